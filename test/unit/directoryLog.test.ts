/**
 * What follows a directory change or an ownership grant through the outbox (the change log entries,
 * the `owner|` rows) survives a relay that fails right after the commit: the row stays, the sweeper
 * applies it, and the result is what an undisturbed relay gives. On the in-memory store, with the
 * follow-up writes failing as storage would.
 */
import { describe, expect, it } from "vitest";
import { MemoryRowStore } from "../../shared/adapters/memory/memoryRowStore.js";
import type { WriteOp } from "../../shared/ports/rows.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import { listChanges } from "../../shared/usecases/changes.js";
import { putEnvironment, putGroup, putMembership, putUser } from "../../shared/usecases/directory.js";
import { listEnvironments, listResources } from "../../shared/usecases/reads.js";
import { sweepOutbox } from "../../shared/usecases/relay.js";
import { putResource } from "../../shared/usecases/resources.js";
import { revoke, share } from "../../shared/usecases/sharing.js";
import { memoryCaps } from "../support/memoryCaps.js";

/** A memory store whose writes that `fails` picks throw, as a storage outage between two writes would. */
class FlakyStore extends MemoryRowStore {
  fails: ((table: string, ops: readonly WriteOp[]) => boolean) | undefined;
  override async transact(table: string, pk: string, ops: readonly WriteOp[]) {
    if (this.fails?.(table, ops)) throw new Error("storage unavailable (injected)");
    return super.transact(table, pk, ops);
  }
}

const admin: Caller = { principalId: "admin-app", appRoles: ["Sharing.Admin"] };
const as = (id: string): Caller => ({ principalId: id, appRoles: [] });

async function world() {
  const store = new FlakyStore();
  const m = memoryCaps(store);
  const env = (envId: string) => ({
    envId,
    displayName: envId,
    isDefault: false,
    sensitive: false,
    expectedOwnerGroupIds: [],
    sovereignCloud: false,
  });
  await putEnvironment(m.caps, admin, env("e1"));
  await putEnvironment(m.caps, admin, env("e2"));
  for (const id of ["maker", "bob"]) {
    await putUser(m.caps, admin, {
      userId: id,
      email: `${id}@x.test`,
      displayName: id,
      userType: "member",
      enabled: true,
      license: "paid",
    });
    await putMembership(m.caps, admin, { envId: "e1", userId: id, securityRoles: ["EnvironmentMaker"] });
  }
  await putMembership(m.caps, admin, { envId: "e2", userId: "bob", securityRoles: ["BasicUser"] });
  return { ...m, store, env };
}

const actions = async (caps: Parameters<typeof listChanges>[0], envId: string) =>
  (await listChanges(caps, admin, envId, {})).items.map((i) => i.action);

describe("directory changes and owners follow through the outbox", () => {
  it("a change log write that fails after the commit is made by the sweeper, once", async () => {
    const { caps, store, env, logs } = await world();
    store.fails = (table) => table.endsWith("Changes");
    await putEnvironment(caps, admin, { ...env("e1"), displayName: "Renamed" });
    await putUser(caps, admin, {
      userId: "bob",
      email: "bob@x.test",
      displayName: "Bob B",
      userType: "member",
      enabled: false,
      license: "paid",
    });
    await putMembership(caps, admin, { envId: "e1", userId: "maker", securityRoles: ["SystemAdministrator"] });
    await putGroup(caps, admin, { envId: "e1", groupId: "g1", displayName: "G", kind: "securityGroup" });
    store.fails = undefined;
    expect(logs.filter((l) => l.includes("left for the sweeper")).length).toBeGreaterThanOrEqual(4);
    // The environment's outbox row is no environment.
    expect((await listEnvironments(caps, admin, {})).items.map((e) => e.envId)).toEqual(["e1", "e2"]);
    const before = await actions(caps, "e1");
    expect(before).not.toContain("environment.updated");

    expect(await sweepOutbox(caps)).toBeGreaterThanOrEqual(3);
    const after = await actions(caps, "e1");
    for (const a of ["environment.updated", "user.updated", "membership.updated", "group.created"])
      expect(
        after.filter((x) => x === a),
        a,
      ).toHaveLength(1);
    // bob's profile change reached both of his environments, and a second sweep adds nothing.
    expect(await actions(caps, "e2")).toContain("user.updated");
    expect(await sweepOutbox(caps)).toBe(0);
    expect(await actions(caps, "e1")).toEqual(after);
  });

  it("owner rows a failed relay missed are written by the sweeper, and follow a revoke", async () => {
    const { caps, store } = await world();
    await putResource(
      caps,
      as("maker"),
      "e1",
      "p1",
      { kind: "processMining", displayName: "Orders", creatorId: "maker" },
      undefined,
    );
    const owners = async () =>
      (await listResources(caps, admin, "e1", {})).items.find((r) => r.resourceId === "p1")?.owners;
    expect(await owners()).toEqual([{ type: "user", id: "maker", role: "owner" }]);

    store.fails = (_table, ops) => ops.some((o) => o.rk.startsWith("owner|"));
    await share(caps, as("maker"), "e1", "p1", {
      role: "coOwner",
      principals: [{ type: "user", id: "bob" }],
      sendInvitation: false,
    });
    store.fails = undefined;
    expect(await owners()).toEqual([{ type: "user", id: "maker", role: "owner" }]);
    await sweepOutbox(caps);
    expect(await owners()).toEqual([
      { type: "user", id: "bob", role: "coOwner" },
      { type: "user", id: "maker", role: "owner" },
    ]);

    await revoke(caps, as("maker"), "e1", "p1", { type: "user", id: "bob" }, "coOwner");
    expect(await owners()).toEqual([{ type: "user", id: "maker", role: "owner" }]);
  });
});
