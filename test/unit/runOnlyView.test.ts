import { describe, expect, it } from "vitest";
import { memoryCaps } from "../support/memoryCaps.js";
import { decide, type PrincipalFacts } from "../../shared/rules/decide.js";
import { putEnvironment, putGroup, putMembership, putUser } from "../../shared/usecases/directory.js";
import { getResource, isRunOnlyCaller, putResource, readResource } from "../../shared/usecases/resources.js";
import { share, sharedWith } from "../../shared/usecases/sharing.js";
import { runOnlyResourceView, resourceReadView } from "../../shared/model/responses.js";
import type { Caller } from "../../shared/usecases/capabilities.js";

const app: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
const as = (id: string): Caller => ({ principalId: id, appRoles: [] });

const member = (over: Partial<PrincipalFacts> = {}): PrincipalFacts => ({
  principalId: "u1",
  enabled: true,
  securityRoles: ["BasicUser"],
  memberOf: [],
  ...over,
});
const flow = { kind: "cloudFlow" as const, triggerKind: "instant" as const };
const runOnly = { principalType: "user" as const, principalId: "u1", role: "runOnly" as const };

describe("who gets the run-only view", () => {
  it("a run-only user, directly or through a group", () => {
    expect(isRunOnlyCaller(decide(flow, [runOnly], member()), "cloudFlow")).toBe(true);
    const viaGroup = decide(
      flow,
      [{ principalType: "group", principalId: "g1", role: "runOnly" }],
      member({ memberOf: [{ type: "group", id: "g1" }] }),
    );
    expect(isRunOnlyCaller(viaGroup, "cloudFlow")).toBe(true);
    // Still only a run-only user when the flow is automated (nothing to run) or they are disabled.
    expect(isRunOnlyCaller(decide({ ...flow, triggerKind: "automated" }, [runOnly], member()), "cloudFlow")).toBe(true);
    expect(isRunOnlyCaller(decide(flow, [runOnly], member({ enabled: false })), "cloudFlow")).toBe(true);
  });

  it("not an owner who is also run-only, an admin, or a holder of the share privilege", () => {
    const owner = { ...runOnly, role: "owner" as const };
    expect(isRunOnlyCaller(decide(flow, [runOnly, owner], member()), "cloudFlow")).toBe(false);
    // An owner without a security role may only run, and is still an owner.
    expect(isRunOnlyCaller(decide(flow, [owner], member({ securityRoles: [] })), "cloudFlow")).toBe(false);
    expect(
      isRunOnlyCaller(decide(flow, [runOnly], member({ securityRoles: ["SystemAdministrator"] })), "cloudFlow"),
    ).toBe(false);
    const privileged = member({ privileges: [{ roleId: "sharer", kind: "cloudFlow", privilege: "share" }] });
    expect(isRunOnlyCaller(decide(flow, [runOnly], privileged), "cloudFlow")).toBe(false);
  });

  it("run-only users lack viewSharing; owners, admins and the share privilege hold it", () => {
    expect(decide(flow, [runOnly], member()).actions).toEqual(["cloudFlow.run"]);
    expect(decide(flow, [{ ...runOnly, role: "owner" }], member()).actions).toContain("cloudFlow.viewSharing");
    expect(decide(flow, [], member({ securityRoles: ["SystemAdministrator"] })).actions).toContain(
      "cloudFlow.viewSharing",
    );
    const privileged = member({ privileges: [{ roleId: "sharer", kind: "cloudFlow", privilege: "share" }] });
    expect(decide(flow, [], privileged).actions).toContain("cloudFlow.viewSharing");
  });
});

async function world() {
  const m = memoryCaps();
  const c = m.caps;
  await putEnvironment(c, app, {
    envId: "e1",
    displayName: "Env",
    isDefault: true,
    sensitive: false,
    expectedOwnerGroupIds: [],
    sovereignCloud: false,
  });
  for (const id of ["maker", "bob", "carol"]) {
    await putUser(c, app, {
      userId: id,
      email: `${id}@x.test`,
      displayName: id,
      userType: "member",
      enabled: true,
      license: "paid",
    });
    await putMembership(c, app, { envId: "e1", userId: id, securityRoles: ["EnvironmentMaker"] });
  }
  await putGroup(c, app, {
    envId: "e1",
    groupId: "g1",
    displayName: "Runners",
    kind: "securityGroup",
    memberIds: ["bob", "carol"],
  });
  await putResource(
    c,
    as("maker"),
    "e1",
    "f1",
    {
      kind: "cloudFlow",
      displayName: "Expense approval",
      description: "internal notes",
      creatorId: "maker",
      triggerKind: "instant",
      connections: [
        { id: "c1", connector: "sharepointonline", ownerId: "maker", usage: "embedded" },
        { id: "c2", connector: "office365", ownerId: "maker", usage: "embedded" },
        { id: "c3", connector: "teams", ownerId: "maker", usage: "other" },
      ],
    },
    undefined,
  );
  // Bob directly: only c1 is his to supply; the group: c1 and c2 (and c3, which the flow doesn't use).
  await share(c, as("maker"), "e1", "f1", {
    role: "runOnly",
    principals: [{ type: "user", id: "bob" }],
    sendInvitation: false,
    connectionChoices: { c1: "invoker", c2: "embedded" },
  });
  await share(c, as("maker"), "e1", "f1", {
    role: "runOnly",
    principals: [{ type: "group", id: "g1" }],
    sendInvitation: false,
    connectionChoices: { c1: "invoker", c2: "invoker" },
  });
  return m;
}

describe("GET resource for run-only users (in-memory store)", () => {
  it("a group's run-only member supplies the connections the group's grant says invoker for", async () => {
    const { caps } = await world();
    const carol = await readResource(caps, as("carol"), "e1", "f1");
    const { etag: _etag, ...body } = carol;
    expect(runOnlyResourceView.parse(body)).toEqual(body);
    expect(carol).toMatchObject({
      view: "runOnly",
      resource: {
        envId: "e1",
        resourceId: "f1",
        kind: "cloudFlow",
        displayName: "Expense approval",
        triggerKind: "instant",
        connectionsToProvide: [
          { id: "c1", connector: "sharepointonline" },
          { id: "c2", connector: "office365" },
        ],
      },
      roles: ["runOnly"],
      allowedActions: ["cloudFlow.run"],
    });
    expect(Object.keys(carol.resource).sort()).toEqual(
      ["connectionsToProvide", "displayName", "envId", "kind", "resourceId", "triggerKind"].sort(),
    );
  });

  it("one of the caller's run-only grants embedding a connection means they need not supply it", async () => {
    const { caps } = await world();
    const bob = await readResource(caps, as("bob"), "e1", "f1");
    expect("view" in bob && bob.resource.connectionsToProvide).toEqual([{ id: "c1", connector: "sharepointonline" }]);
  });

  it("owners and app admins get the v1 view; run-only users can't list the shares", async () => {
    const { caps } = await world();
    const owner = await readResource(caps, as("maker"), "e1", "f1");
    expect("view" in owner).toBe(false);
    expect(owner.resource).toMatchObject({ ownerId: "maker", creatorId: "maker", description: "internal notes" });
    const { etag: _e, ...ownerBody } = owner;
    expect(resourceReadView.parse(ownerBody)).toEqual(ownerBody);
    expect("view" in (await readResource(caps, app, "e1", "f1"))).toBe(false);
    // The answer put and instantiate reuse never gives run-only users the registration either.
    expect((await getResource(caps, as("bob"), "e1", "f1")).resource).not.toHaveProperty("connections");
    await expect(sharedWith(caps, as("bob"), "e1", "f1")).rejects.toMatchObject({ code: "forbidden" });
    await expect(sharedWith(caps, as("carol"), "e1", "f1")).rejects.toThrow(/cloudFlow\.viewSharing is not allowed/);
    expect((await sharedWith(caps, as("maker"), "e1", "f1")).grants).toHaveLength(3);
  });
});
