import { stackCaps } from "../support/stackCaps.js";
import { CrashingAzureStore } from "../support/crashingStore.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reassign } from "../../shared/usecases/reassign.js";
import { startStack, type Stack } from "../support/stack.js";
import { expectStatus, newWorld } from "../support/world.js";

interface Result {
  status: string;
  jobId?: string;
  reassigned: { resourceId: string; creatorKeptAsOwner: boolean }[];
  needsCopy: { resourceId: string }[];
  connectionsToFix: { resourceId: string; connectionId: string }[];
}
interface Shares {
  ownerId: string;
  creatorId: string;
  grants: { principalId: string; role: string; isPrimaryOwner: boolean }[];
}

const lists = (r: Result) => ({
  reassigned: r.reassigned,
  needsCopy: r.needsCopy.map((x) => x.resourceId),
  connectionsToFix: r.connectionsToFix.map((x) => `${x.resourceId}/${x.connectionId}`),
});

describe("reassigning a leaving user's records, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  async function world() {
    const w = await newWorld(stack);
    const admin = await w.user("admin", { roles: ["SystemAdministrator"] });
    const leaver = await w.user("leaver");
    const heir = await w.user("heir");
    const other = await w.user("other");
    const basic = await w.user("basic", { roles: ["BasicUser"] });
    const env = w.envId;
    const path = (r: string) => `/api/environments/${env}/resources/${r}`;
    const put = async (r: string, who: string, body: Record<string, unknown>) =>
      expectStatus(stack, 201, "PUT", path(r), {
        token: await w.token(who),
        body: { creatorId: w.id(who), ...body },
      });
    const flow = (solutionAware: boolean, connections: [string, string][] = []) => ({
      kind: "cloudFlow",
      displayName: "Flow",
      solutionAware,
      triggerKind: "instant",
      connections: connections.map(([cid, ownerId]) => ({ id: cid, connector: "Outlook", ownerId, usage: "embedded" })),
    });
    await put("p1", "leaver", { kind: "processMining", displayName: "Invoices" });
    await put("t1", "leaver", { kind: "taskMining", displayName: "Expenses" });
    await put("f1", "leaver", flow(true, [["c1", leaver]]));
    await put("f2", "leaver", flow(false));
    await put("f3", "other", flow(true, [["c3", leaver]]));
    await expectStatus(stack, 201, "POST", `${path("p1")}/shares`, {
      token: await w.token("leaver"),
      body: { role: "coOwner", principals: [{ type: "user", id: other }], sendInvitation: false },
    });
    const shares = async (r: string) =>
      (await expectStatus(stack, 200, "GET", `${path(r)}/shares`, { token: w.adminToken })).json as Shares;
    const post = async (status: number, body: Record<string, unknown>, token?: string) =>
      expectStatus(stack, status, "POST", `/api/environments/${env}/reassignments`, {
        token: token ?? (await w.token("admin")),
        body,
      });
    return { ...w, admin, leaver, heir, other, basic, path, put, shares, post };
  }

  const owners = (s: Shares) => ({
    ownerId: s.ownerId,
    owners: s.grants
      .filter((g) => g.role === "owner")
      .map((g) => g.principalId)
      .sort(),
  });

  it("refuses a target without the needed role (422), and non-admins, changing nothing", async () => {
    const w = await world();
    const refused = await w.post(422, { fromUserId: w.leaver, toUserId: w.basic });
    expect(refused.json).toMatchObject({ detail: expect.stringMatching(/nothing was reassigned.*EnvironmentMaker/) });
    await w.post(422, { fromUserId: w.leaver, toUserId: w.basic, dryRun: true });
    await w.post(403, { fromUserId: w.leaver, toUserId: w.heir }, await w.token("other"));
    await w.post(400, { fromUserId: w.leaver, toUserId: w.heir, extra: true });
    await w.post(200, { fromUserId: w.leaver, toUserId: w.heir, dryRun: true }, w.adminToken);
    expect(owners(await w.shares("p1"))).toEqual({ ownerId: w.leaver, owners: [w.leaver] });
  });

  it("does exactly what the dry run said: processes and solution-aware flows move, the rest is listed", async () => {
    const w = await world();
    const dry = (await w.post(200, { fromUserId: w.leaver, toUserId: w.heir, dryRun: true })).json as Result;
    expect(dry.status).toBe("dryRun");
    expect(owners(await w.shares("p1"))).toEqual({ ownerId: w.leaver, owners: [w.leaver] });
    const real = (await w.post(200, { fromUserId: w.leaver, toUserId: w.heir })).json as Result;
    expect(real.status).toBe("done");
    expect(lists(real)).toEqual(lists(dry));
    expect(lists(real)).toEqual({
      reassigned: [
        {
          resourceId: "f1",
          kind: "cloudFlow",
          displayName: "Flow",
          fromUserId: w.leaver,
          toUserId: w.heir,
          creatorKeptAsOwner: true,
        },
        {
          resourceId: "p1",
          kind: "processMining",
          displayName: "Invoices",
          fromUserId: w.leaver,
          toUserId: w.heir,
          creatorKeptAsOwner: false,
        },
        {
          resourceId: "t1",
          kind: "taskMining",
          displayName: "Expenses",
          fromUserId: w.leaver,
          toUserId: w.heir,
          creatorKeptAsOwner: false,
        },
      ],
      needsCopy: ["f2"],
      connectionsToFix: ["f1/c1", "f3/c3"],
    });
    expect(owners(await w.shares("p1"))).toEqual({ ownerId: w.heir, owners: [w.heir] });
    expect((await w.shares("p1")).grants.find((g) => g.principalId === w.other)?.role).toBe("coOwner");
    expect(owners(await w.shares("t1"))).toEqual({ ownerId: w.heir, owners: [w.heir] });
    expect(owners(await w.shares("f1"))).toEqual({ ownerId: w.heir, owners: [w.heir, w.leaver].sort() });
    expect(owners(await w.shares("f2"))).toEqual({ ownerId: w.leaver, owners: [w.leaver] });

    // The heir acts as the owner; the change log has one reassign entry per moved resource.
    const access = await expectStatus(stack, 200, "GET", `${w.path("p1")}/access/${w.heir}`, {
      token: await w.token("heir"),
    });
    expect((access.json as { actions: string[] }).actions).toContain("processMining.editDataflow");
    const listed = await expectStatus(
      stack,
      200,
      "GET",
      `/api/environments/${w.envId}/principals/${w.heir}/resources`,
      {
        token: await w.token("heir"),
      },
    );
    expect((listed.json as { resources: { resourceId: string }[] }).resources.map((r) => r.resourceId).sort()).toEqual([
      "f1",
      "p1",
      "t1",
    ]);
    const log = await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/changes?principalId=${w.heir}`, {
      token: await w.token("admin"),
    });
    const entries = (log.json as { items: { action: string; resourceId: string; actorId: string }[] }).items.filter(
      (i) => i.action === "reassign",
    );
    expect(entries.map((e) => e.resourceId).sort()).toEqual(["f1", "p1", "t1"]);
    expect(entries.every((e) => e.actorId === w.admin)).toBe(true);

    // Posting it again changes nothing more.
    const again = (await w.post(200, { fromUserId: w.leaver, toUserId: w.heir })).json as Result;
    expect(lists(again)).toEqual({ reassigned: [], needsCopy: ["f2"], connectionsToFix: ["f1/c1", "f3/c3"] });
  });

  it("resumes a run interrupted halfway: no resource is ever without its owner, and the dry run matches the resumed run", async () => {
    const w = await world();
    const bulk = Array.from({ length: 36 }, (_, i) => `bulk${String(i).padStart(2, "0")}`);
    for (const [i, r] of bulk.entries())
      await w.put(r, "leaver", { kind: i % 2 ? "processMining" : "taskMining", displayName: `Bulk ${i}` });
    const planned = (await w.post(200, { fromUserId: w.leaver, toUserId: w.heir, dryRun: true })).json as Result;
    expect(planned.reassigned).toHaveLength(39);

    // The same use case against the host's own storage, with a crash injected after 15 resources.
    const store = new CrashingAzureStore({ connectionString: stack.storageConnectionString });
    const caps = stackCaps(stack, { rows: store, emailQueue: { send: async () => undefined } });
    store.crashAfter = 15;
    await expect(
      reassign(
        caps,
        { principalId: w.admin, appRoles: [] },
        w.envId,
        { fromUserId: w.leaver, toUserId: w.heir, dryRun: false },
        { pageSize: 8, concurrency: 4 },
      ),
    ).rejects.toThrow("injected crash");

    let moved = 0;
    for (const r of ["p1", "t1", "f1", "f2", "f3", ...bulk]) {
      const o = owners(await w.shares(r));
      expect(o.owners).toContain(o.ownerId);
      if (o.ownerId === w.heir) moved++;
    }
    expect(moved).toBe(15);

    const dry = (await w.post(200, { fromUserId: w.leaver, toUserId: w.heir, dryRun: true })).json as Result;
    const resumed = (await w.post(200, { fromUserId: w.leaver, toUserId: w.heir })).json as Result;
    expect(resumed.status).toBe("done");
    expect(lists(resumed)).toEqual(lists(dry));
    expect(lists(resumed)).toEqual(lists(planned));
    for (const r of bulk) expect(owners(await w.shares(r))).toEqual({ ownerId: w.heir, owners: [w.heir] });
    let reassignEntries = 0;
    let token: string | undefined;
    do {
      const page = await expectStatus(
        stack,
        200,
        "GET",
        `/api/environments/${w.envId}/changes?principalId=${w.heir}${token ? `&continuationToken=${token}` : ""}`,
        { token: w.adminToken },
      );
      const body = page.json as { items: { action: string }[]; continuationToken?: string };
      reassignEntries += body.items.filter((i) => i.action === "reassign").length;
      token = body.continuationToken;
    } while (token);
    expect(reassignEntries).toBe(39);
  });
});
