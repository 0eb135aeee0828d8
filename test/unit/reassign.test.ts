import { describe, expect, it } from "vitest";
import { MemoryRowStore } from "../../shared/adapters/memory/memoryRowStore.js";
import type { WriteOp } from "../../shared/ports/rows.js";
import { memoryCaps } from "../support/memoryCaps.js";
import { putEnvironment, putMembership, putUser } from "../../shared/usecases/directory.js";
import { putResource, principalResources } from "../../shared/usecases/resources.js";
import { share } from "../../shared/usecases/sharing.js";
import { reassign, type ReassignResult } from "../../shared/usecases/reassign.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import type { SecurityRole } from "../../shared/model/records.js";

const app: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
const as = (id: string): Caller => ({ principalId: id, appRoles: [] });

/** A memory store that fails, as a crash would, once a number of resource changes have been written. */
class CrashingStore extends MemoryRowStore {
  crashAfter = Infinity;
  ownerChanges = 0;
  override async transact(table: string, pk: string, ops: readonly WriteOp[]) {
    if (
      table.endsWith("Resources") &&
      ops.some((o) => o.op === "replace" && o.rk === "meta") &&
      ops.some((o) => o.rk.startsWith("change|"))
    ) {
      // Counted before the write starts, so concurrent writers can't both slip under the limit.
      if (this.ownerChanges >= this.crashAfter) throw new Error("injected crash");
      this.ownerChanges++;
      return super.transact(table, pk, ops);
    }
    return super.transact(table, pk, ops);
  }
}

async function world(store = new MemoryRowStore()) {
  const m = memoryCaps(store);
  const c = m.caps;
  await putEnvironment(c, app, {
    envId: "e1",
    displayName: "Env",
    isDefault: false,
    sensitive: false,
    expectedOwnerGroupIds: [],
    sovereignCloud: false,
  });
  const people: [string, SecurityRole[]][] = [
    ["admin", ["SystemAdministrator"]],
    ["leaver", ["EnvironmentMaker"]],
    ["heir", ["EnvironmentMaker"]],
    ["other", ["EnvironmentMaker"]],
    ["basic", ["BasicUser"]],
  ];
  for (const [id, roles] of people) {
    await putUser(c, app, {
      userId: id,
      email: `${id}@x.test`,
      displayName: id,
      userType: "member",
      enabled: true,
      license: "paid",
    });
    await putMembership(c, app, { envId: "e1", userId: id, securityRoles: roles });
  }
  const flow = (creatorId: string, solutionAware: boolean, connections: { id: string; ownerId: string }[] = []) => ({
    kind: "cloudFlow" as const,
    displayName: `flow of ${creatorId}`,
    creatorId,
    solutionAware,
    triggerKind: "instant" as const,
    connections: connections.map((x) => ({ ...x, connector: "Outlook", usage: "embedded" as const })),
  });
  await putResource(
    c,
    as("leaver"),
    "e1",
    "p1",
    { kind: "processMining", displayName: "Invoices", creatorId: "leaver" },
    undefined,
  );
  await putResource(
    c,
    as("leaver"),
    "e1",
    "t1",
    { kind: "taskMining", displayName: "Expenses", creatorId: "leaver" },
    undefined,
  );
  await putResource(c, as("leaver"), "e1", "f1", flow("leaver", true, [{ id: "c1", ownerId: "leaver" }]), undefined);
  await putResource(c, as("leaver"), "e1", "f2", flow("leaver", false), undefined);
  await putResource(
    c,
    as("other"),
    "e1",
    "f3",
    flow("other", true, [
      { id: "c3", ownerId: "leaver" },
      { id: "c4", ownerId: "other" },
    ]),
    undefined,
  );
  await putResource(
    c,
    as("other"),
    "e1",
    "p2",
    { kind: "processMining", displayName: "Orders", creatorId: "other" },
    undefined,
  );
  await share(c, as("other"), "e1", "f3", {
    role: "owner",
    principals: [{ type: "user", id: "leaver" }],
    sendInvitation: false,
  });
  await share(c, as("leaver"), "e1", "p1", {
    role: "coOwner",
    principals: [{ type: "user", id: "other" }],
    sendInvitation: false,
  });
  return m;
}

const ids = (r: ReassignResult) => ({
  reassigned: r.reassigned.map((x) => x.resourceId),
  needsCopy: r.needsCopy.map((x) => x.resourceId),
  connectionsToFix: r.connectionsToFix.map((x) => `${x.resourceId}/${x.connectionId}`),
});

async function owners(caps: Awaited<ReturnType<typeof world>>["caps"], resourceId: string) {
  const s = await caps.repo.resourceState("e1", resourceId);
  return {
    ownerId: s?.resource.ownerId,
    owners: s?.grants
      .filter((g) => g.role === "owner")
      .map((g) => g.principalId)
      .sort(),
  };
}

describe("reassigning a leaving user's records", () => {
  it("moves processes and solution-aware flows, lists the rest, and the dry run says exactly that", async () => {
    const { caps } = await world();
    const dry = await reassign(caps, as("admin"), "e1", { fromUserId: "leaver", toUserId: "heir", dryRun: true });
    expect(dry.status).toBe("dryRun");
    expect(await owners(caps, "p1")).toEqual({ ownerId: "leaver", owners: ["leaver"] });
    const real = await reassign(caps, as("admin"), "e1", { fromUserId: "leaver", toUserId: "heir", dryRun: false });
    expect(real.status).toBe("done");
    expect(ids(real)).toEqual(ids(dry));
    expect(real.reassigned.map(({ resourceId, creatorKeptAsOwner }) => ({ resourceId, creatorKeptAsOwner }))).toEqual(
      dry.reassigned.map(({ resourceId, creatorKeptAsOwner }) => ({ resourceId, creatorKeptAsOwner })),
    );
    expect(ids(real)).toEqual({
      reassigned: ["f1", "p1", "t1"],
      needsCopy: ["f2"],
      connectionsToFix: ["f1/c1", "f3/c3"],
    });

    // Processes: the owner grant moves. A flow the leaver created: the creator is never removed as owner.
    expect(await owners(caps, "p1")).toEqual({ ownerId: "heir", owners: ["heir"] });
    expect(await owners(caps, "t1")).toEqual({ ownerId: "heir", owners: ["heir"] });
    expect(await owners(caps, "f1")).toEqual({ ownerId: "heir", owners: ["heir", "leaver"] });
    expect(real.reassigned.find((x) => x.resourceId === "f1")?.creatorKeptAsOwner).toBe(true);
    // Not theirs, or not movable in place: untouched.
    expect(await owners(caps, "f2")).toEqual({ ownerId: "leaver", owners: ["leaver"] });
    expect(await owners(caps, "f3")).toEqual({ ownerId: "other", owners: ["leaver", "other"] });
    expect((await caps.repo.resourceState("e1", "p1"))?.grants.find((g) => g.principalId === "other")?.role).toBe(
      "coOwner",
    );

    // The heir's list of resources and the change log follow.
    const listed = await principalResources(caps, as("heir"), "e1", "heir", undefined, undefined);
    expect(listed.resources.map((r) => r.resourceId).sort()).toEqual(["f1", "p1", "t1"]);
    const log = await caps.repo.environmentChanges("e1", undefined, 100);
    expect(
      log.items
        .filter((e) => e.action === "reassign")
        .map((e) => e.resourceId)
        .sort(),
    ).toEqual(["f1", "p1", "t1"]);

    // Again: nothing more to move, the same final state.
    const again = await reassign(caps, as("admin"), "e1", { fromUserId: "leaver", toUserId: "heir", dryRun: false });
    expect(ids(again)).toEqual({ reassigned: [], needsCopy: ["f2"], connectionsToFix: ["f1/c1", "f3/c3"] });
    expect(await owners(caps, "f1")).toEqual({ ownerId: "heir", owners: ["heir", "leaver"] });
  });

  it("refuses a target without the role to own (422) and changes nothing", async () => {
    const { caps } = await world();
    for (const toUserId of ["basic"]) {
      await expect(
        reassign(caps, as("admin"), "e1", { fromUserId: "leaver", toUserId, dryRun: false }),
      ).rejects.toMatchObject({ code: "ruleViolation", message: expect.stringMatching(/EnvironmentMaker/) });
    }
    await putUser(caps, app, {
      userId: "stranger",
      email: "s@x.test",
      displayName: "s",
      userType: "member",
      enabled: true,
      license: "paid",
    });
    await expect(
      reassign(caps, as("admin"), "e1", { fromUserId: "leaver", toUserId: "stranger", dryRun: true }),
    ).rejects.toMatchObject({ code: "ruleViolation", message: expect.stringMatching(/not a member/) });
    await putUser(caps, app, {
      userId: "heir",
      email: "heir@x.test",
      displayName: "heir",
      userType: "member",
      enabled: false,
      license: "paid",
    });
    await expect(
      reassign(caps, as("admin"), "e1", { fromUserId: "leaver", toUserId: "heir", dryRun: false }),
    ).rejects.toMatchObject({ code: "ruleViolation", message: expect.stringMatching(/disabled/) });
    await expect(
      reassign(caps, as("admin"), "e1", { fromUserId: "leaver", toUserId: "ghost", dryRun: false }),
    ).rejects.toMatchObject({ code: "invalidInput" });
    await expect(
      reassign(caps, as("admin"), "e1", { fromUserId: "leaver", toUserId: "leaver", dryRun: false }),
    ).rejects.toMatchObject({ code: "invalidInput" });
    expect(await owners(caps, "p1")).toEqual({ ownerId: "leaver", owners: ["leaver"] });
    expect(await caps.reassignments.getJob("e1", "leaver", "basic")).toBeUndefined();
  });

  it("is for environment admins and Sharing.Admin apps", async () => {
    const { caps } = await world();
    await expect(
      reassign(caps, as("other"), "e1", { fromUserId: "leaver", toUserId: "heir", dryRun: true }),
    ).rejects.toMatchObject({ code: "forbidden" });
    await expect(
      reassign(caps, as("nobody"), "e1", { fromUserId: "leaver", toUserId: "heir", dryRun: true }),
    ).rejects.toMatchObject({ code: "notFound" });
    await expect(
      reassign(caps, { principalId: "auditor", appRoles: ["Sharing.Audit"] }, "e1", {
        fromUserId: "leaver",
        toUserId: "heir",
        dryRun: true,
      }),
    ).rejects.toMatchObject({ code: "notFound" });
    expect(
      (await reassign(caps, app, "e1", { fromUserId: "leaver", toUserId: "heir", dryRun: true })).reassigned,
    ).toHaveLength(3);
  });

  it("continues an interrupted run where it stopped, never leaving a resource without its owner, and the dry run matches the rest", async () => {
    const store = new CrashingStore();
    const { caps } = await world(store);
    for (let i = 0; i < 40; i++) {
      await putResource(
        caps,
        as("leaver"),
        "e1",
        `bulk${String(i).padStart(2, "0")}`,
        { kind: i % 2 ? "processMining" : "taskMining", displayName: `Bulk ${i}`, creatorId: "leaver" },
        undefined,
      );
    }
    const req = { fromUserId: "leaver", toUserId: "heir", dryRun: false };
    const planned = await reassign(caps, as("admin"), "e1", { ...req, dryRun: true });
    expect(planned.reassigned).toHaveLength(43);

    store.ownerChanges = 0;
    store.crashAfter = 17;
    await expect(reassign(caps, as("admin"), "e1", req, { pageSize: 5, concurrency: 3 })).rejects.toThrow(
      "injected crash",
    );
    const job = (await caps.reassignments.getJob("e1", "leaver", "heir"))?.job;
    expect(job).toMatchObject({ status: "running" });
    expect(job?.leaseUntil).toBeUndefined();

    // Halfway: every resource has exactly the owner its meta row names, holding the owner grant.
    let moved = 0;
    for (const r of (await caps.repo.catalogPage("e1", undefined)).resources) {
      const o = await owners(caps, r.resourceId);
      expect(o.owners).toContain(o.ownerId);
      if (o.ownerId === "heir") moved++;
    }
    expect(moved).toBe(17);

    const resumedPlan = await reassign(caps, as("admin"), "e1", { ...req, dryRun: true });
    store.crashAfter = Infinity;
    const resumed = await reassign(caps, as("admin"), "e1", req, { pageSize: 5, concurrency: 3 });
    expect(resumed.status).toBe("done");
    expect(resumed.jobId).toBe(job?.runId);
    expect(ids(resumed)).toEqual(ids(resumedPlan));
    expect(ids(resumed)).toEqual(ids(planned));
    for (const r of (await caps.repo.catalogPage("e1", undefined)).resources) {
      if (r.resourceId.startsWith("bulk"))
        expect(await owners(caps, r.resourceId)).toEqual({ ownerId: "heir", owners: ["heir"] });
    }
    const log = await caps.repo.environmentChanges("e1", undefined, 1000);
    expect(log.items.filter((e) => e.action === "reassign")).toHaveLength(43);
  });

  it("stops within its time budget and continues when posted again; a run in progress elsewhere is a conflict", async () => {
    const { caps } = await world();
    for (let i = 0; i < 12; i++)
      await putResource(
        caps,
        as("leaver"),
        "e1",
        `b${i}`,
        { kind: "processMining", displayName: `B ${i}`, creatorId: "leaver" },
        undefined,
      );
    const req = { fromUserId: "leaver", toUserId: "heir", dryRun: false };
    const first = await reassign(caps, as("admin"), "e1", req, { pageSize: 4, budgetMs: 0 });
    expect(first.status).toBe("running");
    let last = first;
    for (let i = 0; i < 10 && last.status === "running"; i++)
      last = await reassign(caps, as("admin"), "e1", req, { pageSize: 4, budgetMs: 0 });
    expect(last.status).toBe("done");
    expect(last.reassigned).toHaveLength(15);

    const jobs = caps.reassignments;
    const got = (await jobs.getJob("e1", "leaver", "heir"))!;
    await jobs.putJob(
      { ...got.job, status: "running", leaseUntil: new Date(Date.now() + 60_000).toISOString(), leaseId: "someone" },
      got.etag,
    );
    await expect(reassign(caps, as("admin"), "e1", req)).rejects.toMatchObject({ code: "conflict" });
  });
});
