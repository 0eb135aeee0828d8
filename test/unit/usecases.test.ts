import { describe, expect, it } from "vitest";
import { memoryCaps } from "../support/memoryCaps.js";
import { putEnvironment, putGroup, putMembership, putUser } from "../../shared/usecases/directory.js";
import { putResource, principalResources } from "../../shared/usecases/resources.js";
import { share, revoke, sharedWith } from "../../shared/usecases/sharing.js";
import { check, effectiveAccess } from "../../shared/usecases/access.js";
import type { Caller } from "../../shared/usecases/capabilities.js";

const admin: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
const as = (id: string): Caller => ({ principalId: id, appRoles: [] });

async function world() {
  const m = memoryCaps();
  const c = m.caps;
  await putEnvironment(c, admin, {
    envId: "e1",
    displayName: "Env",
    isDefault: true,
    sensitive: false,
    expectedOwnerGroupIds: [],
    sovereignCloud: false,
  });
  for (const [id, lic] of [
    ["maker", "paid"],
    ["bob", "paid"],
    ["carol", "free"],
  ] as const) {
    await putUser(c, admin, {
      userId: id,
      email: `${id}@x.test`,
      displayName: id,
      userType: "member",
      enabled: true,
      license: lic,
    });
    await putMembership(c, admin, { envId: "e1", userId: id, securityRoles: ["EnvironmentMaker"] });
  }
  await putResource(
    c,
    as("maker"),
    "e1",
    "p1",
    { kind: "processMining", displayName: "Orders", creatorId: "maker" },
    undefined,
  );
  return m;
}

describe("sharing on the in-memory store", () => {
  it("shares, lists, checks, and revokes", async () => {
    const { caps, sent } = await world();
    const r = await share(caps, as("maker"), "e1", "p1", {
      role: "viewer",
      principals: [{ type: "user", id: "bob" }],
      sendInvitation: true,
    });
    expect(r.created).toBe(true);
    expect(sent).toHaveLength(1);
    const again = await share(caps, as("maker"), "e1", "p1", {
      role: "viewer",
      principals: [{ type: "user", id: "bob" }],
      sendInvitation: true,
    });
    expect(again.created).toBe(false);
    expect((await sharedWith(caps, as("maker"), "e1", "p1")).grants).toHaveLength(2);
    const listed = await principalResources(caps, as("bob"), "e1", "bob", undefined, undefined);
    expect(listed.resources.map((x) => x.resourceId)).toEqual(["p1"]);
    const results = await check(caps, as("bob"), "e1", [
      { principalId: "bob", resourceId: "p1", action: "processMining.viewAnalytics" },
      { principalId: "bob", resourceId: "p1", action: "processMining.share" },
    ]);
    expect(results.map((x) => x.allowed)).toEqual([true, false]);
    await expect(
      share(caps, as("bob"), "e1", "p1", {
        role: "viewer",
        principals: [{ type: "user", id: "carol" }],
        sendInvitation: false,
      }),
    ).rejects.toMatchObject({ code: "forbidden" });
    await revoke(caps, as("maker"), "e1", "p1", { type: "user", id: "bob" }, "viewer");
    expect((await principalResources(caps, as("bob"), "e1", "bob", undefined, undefined)).resources).toEqual([]);
  });

  it("gives access through a group and takes it away when the member leaves", async () => {
    const { caps, drainFanout } = await world();
    await putGroup(caps, admin, {
      envId: "e1",
      groupId: "g1",
      displayName: "Analysts",
      kind: "securityGroup",
      memberIds: ["bob"],
    });
    await share(caps, as("maker"), "e1", "p1", {
      role: "viewer",
      principals: [{ type: "group", id: "g1" }],
      sendInvitation: false,
    });
    // Checks are exact at once; the member's listing follows through the fan-out queue.
    const a = await effectiveAccess(caps, as("bob"), "e1", "p1", "bob");
    expect(a.via).toEqual([{ role: "viewer", through: { type: "group", id: "g1" } }]);
    expect((await principalResources(caps, as("bob"), "e1", "bob", undefined, undefined)).resources).toEqual([]);
    expect(await drainFanout()).toBeGreaterThan(0);
    expect((await principalResources(caps, as("bob"), "e1", "bob", undefined, undefined)).resources).toHaveLength(1);
    await putGroup(caps, admin, {
      envId: "e1",
      groupId: "g1",
      displayName: "Analysts",
      kind: "securityGroup",
      memberIds: [],
    });
    expect((await effectiveAccess(caps, as("bob"), "e1", "p1", "bob")).actions).toEqual([]);
    await drainFanout();
    expect((await principalResources(caps, as("bob"), "e1", "bob", undefined, undefined)).resources).toEqual([]);
  });
});
