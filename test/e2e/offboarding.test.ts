import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { offboard } from "../../shared/usecases/offboarding.js";
import { waitForMail } from "../support/mail.js";
import { CrashingAzureStore } from "../support/crashingStore.js";
import { eventually } from "../support/poll.js";
import { startStack, type Stack } from "../support/stack.js";
import { stackCaps } from "../support/stackCaps.js";
import { expectStatus, finishedAudit, newWorld } from "../support/world.js";

interface Result {
  offboardingId?: string;
  status: string;
  revoked: { resourceId: string; role: string }[];
  transferred: { resourceId: string; to: string; via: string }[];
  ownerless: { resourceId: string }[];
  needsCopy: { resourceId: string }[];
  connectionsToFix: { resourceId: string; connectionId: string }[];
}
interface Shares {
  ownerId: string;
  creatorId: string;
  grants: { principalId: string; role: string }[];
}
interface Run {
  status: string;
  items: { resourceId: string; outcome: string }[];
  continuationToken?: string;
}

/** The parts of an answer two runs must agree on. */
const lists = (r: Result) => ({
  revoked: r.revoked.map((x) => `${x.resourceId}:${x.role}`),
  transferred: r.transferred.map((x) => `${x.resourceId}>${x.to}(${x.via})`),
  ownerless: r.ownerless.map((x) => x.resourceId),
  needsCopy: r.needsCopy.map((x) => x.resourceId),
  connectionsToFix: r.connectionsToFix.map((x) => `${x.resourceId}/${x.connectionId}`),
});

describe("offboarding a leaver, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  async function world(settings: { autoOffboard?: boolean; withDefault?: boolean } = {}) {
    const w = await newWorld(stack);
    const admin = await w.user("admin", { roles: ["SystemAdministrator"] });
    const leaver = await w.user("leaver");
    const heir = await w.user("heir");
    const co1 = await w.user("co1");
    const co2 = await w.user("co2");
    const dflt = await w.user("dflt");
    const basic = await w.user("basic", { roles: ["BasicUser"] });
    const guest = await w.user("guest", { userType: "guest" });
    const env = w.envId;
    await expectStatus(stack, 200, "PUT", `/api/environments/${env}`, {
      token: w.adminToken,
      body: {
        displayName: `Env ${env}`,
        ...(settings.autoOffboard ? { autoOffboard: true } : {}),
        ...(settings.withDefault === false ? {} : { defaultSuccessorId: dflt }),
      },
    });
    const path = (r: string) => `/api/environments/${env}/resources/${r}`;
    const put = async (r: string, who: string, body: Record<string, unknown>) =>
      expectStatus(stack, 201, "PUT", path(r), { token: await w.token(who), body: { creatorId: w.id(who), ...body } });
    const share = async (r: string, who: string, role: string, to: string[]) =>
      expectStatus(stack, 201, "POST", `${path(r)}/shares`, {
        token: await w.token(who),
        body: { role, principals: to.map((x) => ({ type: "user", id: w.id(x) })), sendInvitation: false },
      });
    const flow = (solutionAware: boolean, connections: [string, string][] = []) => ({
      kind: "cloudFlow",
      displayName: "Flow",
      solutionAware,
      triggerKind: "instant",
      connections: connections.map(([cid, ownerId]) => ({ id: cid, connector: "Outlook", ownerId, usage: "embedded" })),
    });
    const shares = async (r: string) =>
      (await expectStatus(stack, 200, "GET", `${path(r)}/shares`, { token: w.adminToken })).json as Shares;
    const post = async (status: number, body: Record<string, unknown>, token?: string) =>
      expectStatus(stack, status, "POST", `/api/environments/${env}/offboardings`, {
        token: token ?? (await w.token("admin")),
        body,
      });
    return { ...w, admin, leaver, heir, co1, co2, dflt, basic, guest, path, put, share, flow, shares, post };
  }

  /** What the leaver owns and holds, one resource per branch and role. */
  async function seeded(w: Awaited<ReturnType<typeof world>>) {
    // Owned as primary owner: co-owners granted oldest first (co2 before co1).
    await w.put("pA", "leaver", { kind: "processMining", displayName: "A" });
    await w.share("pA", "leaver", "coOwner", ["co2"]);
    await w.share("pA", "leaver", "coOwner", ["co1"]);
    // Co-owners who can't own (a BasicUser, a guest): passed over for the default successor.
    await w.put("pB", "leaver", { kind: "processMining", displayName: "B" });
    await w.share("pB", "leaver", "coOwner", ["basic", "guest"]);
    await w.put("tC", "leaver", { kind: "taskMining", displayName: "C" });
    await w.put("fS", "leaver", w.flow(true, [["c1", w.leaver]]));
    await w.share("fS", "leaver", "owner", ["co1"]);
    await w.put("fN", "leaver", w.flow(false));
    // Held on resources others own, in every role, and an owner grant on a flow someone else created.
    await w.put("pV", "co1", { kind: "processMining", displayName: "V" });
    await w.share("pV", "co1", "viewer", ["leaver"]);
    await w.put("pK", "co1", { kind: "processMining", displayName: "K" });
    await w.share("pK", "co1", "coOwner", ["leaver"]);
    await w.put("tK", "co1", { kind: "taskMining", displayName: "TK" });
    await w.share("tK", "co1", "contributor", ["leaver"]);
    await w.put("fR", "co1", w.flow(true));
    await w.share("fR", "co1", "runOnly", ["leaver"]);
    await w.put("fO", "co1", w.flow(true, [["c2", w.leaver]]));
    await w.share("fO", "co1", "owner", ["leaver"]);
    return ["pA", "pB", "tC", "fS", "fN", "pV", "pK", "tK", "fR", "fO"];
  }

  const expectedChain = (w: Awaited<ReturnType<typeof world>>) => ({
    revoked: [
      "fN:owner",
      "fO:owner",
      "fR:runOnly",
      "fS:owner",
      "pA:owner",
      "pB:owner",
      "pK:coOwner",
      "pV:viewer",
      "tC:owner",
      "tK:contributor",
    ],
    transferred: [
      `fS>${w.co1}(coOwner)`,
      `pA>${w.co2}(coOwner)`,
      `pB>${w.dflt}(defaultSuccessor)`,
      `tC>${w.dflt}(defaultSuccessor)`,
    ],
    ownerless: [],
    needsCopy: ["fN"],
    connectionsToFix: ["fO/c2", "fS/c1"],
  });

  it("follows the chain (co-owner by tenure, default successor), revokes every grant, and does what the dry run said", async () => {
    const w = await world();
    const resources = await seeded(w);
    const before = await Promise.all(resources.map((r) => w.shares(r)));
    const dry = (await w.post(200, { userId: w.leaver, dryRun: true })).json as Result;
    expect(dry.status).toBe("dryRun");
    expect(lists(dry)).toEqual(expectedChain(w));
    // The dry run changed nothing.
    expect(await Promise.all(resources.map((r) => w.shares(r)))).toEqual(before);

    const real = (await w.post(200, { userId: w.leaver })).json as Result;
    expect(real.status).toBe("done");
    expect(lists(real)).toEqual(lists(dry));
    for (const r of resources)
      expect(
        (await w.shares(r)).grants.filter((g) => g.principalId === w.leaver),
        r,
      ).toEqual([]);
    expect(await w.shares("pA")).toMatchObject({ ownerId: w.co2 });
    expect((await w.shares("pA")).grants.map((g) => `${g.principalId}:${g.role}`).sort()).toEqual(
      [`${w.co2}:owner`, `${w.co1}:coOwner`].sort(),
    );
    expect(await w.shares("pB")).toMatchObject({ ownerId: w.dflt });
    expect(await w.shares("fS")).toMatchObject({ ownerId: w.co1, creatorId: w.leaver });
    expect(await w.shares("fN")).toMatchObject({ ownerId: w.leaver, grants: [] });
    // Nothing left in the leaver's listing.
    const listed = await expectStatus(
      stack,
      200,
      "GET",
      `/api/environments/${w.envId}/principals/${w.leaver}/resources`,
      {
        token: w.adminToken,
      },
    );
    expect((listed.json as { resources: unknown[] }).resources).toEqual([]);

    // New owners are emailed, once per resource they received.
    const co1Mail = await waitForMail(stack, w.email("co1"), 1);
    expect(co1Mail[0]!.subject).toMatch(/You are now the owner of the cloud flow "Flow"/);
    expect(co1Mail[0]!.plainText).toContain("Connection c1 (Outlook)");
    await waitForMail(stack, w.email("co2"), 1);
    await waitForMail(stack, w.email("dflt"), 2);

    // The change log: an offboard entry per resource for the leaver, one per new owner, and the summary.
    const log = await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/changes?principalId=${w.leaver}`, {
      token: w.adminToken,
    });
    const entries = (log.json as { items: { action: string; resourceId?: string; detail: string }[] }).items.filter(
      (i) => i.action === "offboard",
    );
    expect(
      entries
        .filter((e) => e.resourceId)
        .map((e) => e.resourceId)
        .sort(),
    ).toEqual([...resources].sort());
    const summary = entries.filter((e) => !e.resourceId);
    expect(summary).toHaveLength(1);
    expect(summary[0]!.detail).toContain(
      "10 grant(s) revoked on 10 resource(s), 4 transferred, 0 ownerless, 1 need a copy",
    );
    const heirs = await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/changes?principalId=${w.dflt}`, {
      token: w.adminToken,
    });
    expect(
      (heirs.json as { items: { action: string; role?: string }[] }).items.filter(
        (i) => i.action === "offboard" && i.role === "owner",
      ),
    ).toHaveLength(2);

    // Its state, paged.
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = (
        await expectStatus(
          stack,
          200,
          "GET",
          `/api/environments/${w.envId}/offboardings/${real.offboardingId}?top=4${token ? `&continuationToken=${token}` : ""}`,
          { token: w.adminToken },
        )
      ).json as Run;
      expect(page.status).toBe("done");
      seen.push(...page.items.map((i) => i.resourceId));
      token = page.continuationToken;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual([...resources].sort());

    // Posting it again starts a run that finds nothing left.
    const again = (await w.post(200, { userId: w.leaver })).json as Result;
    expect(again.offboardingId).not.toBe(real.offboardingId);
    expect(lists(again)).toEqual({ revoked: [], transferred: [], ownerless: [], needsCopy: [], connectionsToFix: [] });
  });

  it("gives everything to a named successor, and leaves resources ownerless when the chain ends with nobody", async () => {
    const w = await world({ withDefault: false });
    await seeded(w);
    const named = (await w.post(200, { userId: w.leaver, successorId: w.heir })).json as Result;
    expect(lists(named).transferred).toEqual([
      `fS>${w.heir}(named)`,
      `pA>${w.heir}(named)`,
      `pB>${w.heir}(named)`,
      `tC>${w.heir}(named)`,
    ]);
    expect((await w.shares("fS")).grants.map((g) => `${g.principalId}:${g.role}`).sort()).toEqual(
      [`${w.heir}:owner`, `${w.co1}:owner`].sort(),
    );
    await waitForMail(stack, w.email("heir"), 4);

    // A second leaver whose processes have no co-owner able to own, in an environment with no default.
    await w.user("solo");
    await w.put("pX", "solo", { kind: "processMining", displayName: "X" });
    await w.share("pX", "solo", "coOwner", ["basic"]);
    await w.put("tY", "solo", { kind: "taskMining", displayName: "Y" });
    const none = (await w.post(200, { userId: w.id("solo") })).json as Result;
    expect(lists(none)).toMatchObject({ transferred: [], ownerless: ["pX", "tY"], revoked: ["pX:owner", "tY:owner"] });
    expect(await w.shares("pX")).toMatchObject({ ownerId: w.id("solo") });
    expect((await w.shares("pX")).grants.map((g) => `${g.principalId}:${g.role}`)).toEqual([`${w.basic}:coOwner`]);
  });

  it("resumes a run interrupted halfway to the same end as an uninterrupted one, under the same id", async () => {
    const w = await world();
    await seeded(w);
    const bulk = Array.from({ length: 14 }, (_, i) => `bulk${String(i).padStart(2, "0")}`);
    for (const [i, r] of bulk.entries())
      await w.put(r, "leaver", { kind: i % 2 ? "processMining" : "taskMining", displayName: `Bulk ${i}` });
    const planned = (await w.post(200, { userId: w.leaver, dryRun: true })).json as Result;
    expect(planned.transferred).toHaveLength(4 + bulk.length);

    // The use case against the host's own storage: a run that stops after one small page (time
    // budget used) answers "running"; one that then crashes after a few resources throws.
    const store = new CrashingAzureStore({ connectionString: stack.storageConnectionString });
    const caps = stackCaps(stack, { rows: store });
    const adminCaller = { principalId: w.admin, appRoles: [] };
    const first = await offboard(
      caps,
      adminCaller,
      w.envId,
      { userId: w.leaver, dryRun: false },
      { budgetMs: 0, pageSize: 3 },
    );
    expect(first.status).toBe("running");
    store.crashAfter = store.changes + 5;
    await expect(
      offboard(caps, adminCaller, w.envId, { userId: w.leaver, dryRun: false }, { pageSize: 4, concurrency: 2 }),
    ).rejects.toThrow("injected crash");
    // Every resource still has its primary owner holding an owner grant, or the leaver's (untouched).
    for (const r of [...bulk, "pA", "pB", "tC"]) {
      const s = await w.shares(r);
      expect(
        s.grants.some((g) => g.principalId === s.ownerId && g.role === "owner"),
        r,
      ).toBe(true);
    }

    const dry = (await w.post(200, { userId: w.leaver, dryRun: true })).json as Result;
    expect(dry.offboardingId).toBe(first.offboardingId);
    const resumed = (await w.post(200, { userId: w.leaver })).json as Result;
    expect(resumed).toMatchObject({ status: "done", offboardingId: first.offboardingId });
    expect(lists(resumed)).toEqual(lists(dry));
    expect(lists(resumed)).toEqual(lists(planned));
    for (const r of bulk)
      expect(await w.shares(r)).toMatchObject({ ownerId: w.dflt, grants: [{ principalId: w.dflt, role: "owner" }] });
    // Each new owner's email went once, whatever the crash: 2 default-successor resources and the bulk.
    await waitForMail(stack, w.email("dflt"), 2 + bulk.length);
  });

  it("starts by itself when a user is disabled in an autoOffboard environment", async () => {
    const w = await world({ autoOffboard: true });
    await w.put("pA", "leaver", { kind: "processMining", displayName: "A" });
    await w.share("pA", "leaver", "coOwner", ["co1"]);
    await w.put("pV", "co1", { kind: "processMining", displayName: "V" });
    await w.share("pV", "co1", "viewer", ["leaver"]);
    await w.updateUser("leaver", { enabled: false });
    const done = await eventually(
      "the leaver's automatic offboarding",
      async () => [await w.shares("pA"), await w.shares("pV")] as const,
      {
        until: ([a, v]) => a.ownerId === w.co1 && ![...a.grants, ...v.grants].some((g) => g.principalId === w.leaver),
        timeoutMs: 60_000,
      },
    );
    expect(done[0].grants.map((g) => `${g.principalId}:${g.role}`)).toEqual([`${w.co1}:owner`]);
    await waitForMail(stack, w.email("co1"), 1);
    const log = await eventually("the summary entry", async () =>
      (
        (
          await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/changes?principalId=${w.leaver}`, {
            token: w.adminToken,
          })
        ).json as { items: { action: string; resourceId?: string; actorId: string; detail: string }[] }
      ).items.find((i) => i.action === "offboard" && !i.resourceId),
    );
    expect(log).toMatchObject({ actorId: "system" });
    expect(log.detail).toContain("automatic: disabled");
  });

  /** PATCH `Replace active false` (Entra's soft delete) or DELETE, as Entra's provisioning service sends them. */
  async function scimLeave(w: Awaited<ReturnType<typeof world>>, how: "deactivate" | "delete") {
    const token = await stack.token(`entra-${w.envId}`, ["Sharing.Provisioning"]);
    const path = `/api/environments/${w.envId}/scim/v2/Users/${w.leaver}`;
    const headers = { "content-type": "application/scim+json" };
    const body = {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [{ op: "Replace", path: "active", value: "False" }],
    };
    return how === "deactivate"
      ? expectStatus(stack, 200, "PATCH", path, { token, headers, body })
      : expectStatus(stack, 204, "DELETE", path, { token, headers });
  }

  for (const how of ["deactivate", "delete"] as const) {
    it(`starts by itself when SCIM ${how === "deactivate" ? "deactivates" : "deletes"} a member of an autoOffboard environment`, async () => {
      const w = await world({ autoOffboard: true });
      await w.put("pA", "leaver", { kind: "processMining", displayName: "A" });
      await w.share("pA", "leaver", "coOwner", ["co1"]);
      await w.put("pV", "co1", { kind: "processMining", displayName: "V" });
      await w.share("pV", "co1", "viewer", ["leaver"]);
      await scimLeave(w, how);
      const [a, v] = await eventually(
        "the leaver's automatic offboarding",
        async () => [await w.shares("pA"), await w.shares("pV")] as const,
        {
          until: ([a, v]) => a.ownerId === w.co1 && ![...a.grants, ...v.grants].some((g) => g.principalId === w.leaver),
          timeoutMs: 60_000,
        },
      );
      expect(a.grants.map((g) => `${g.principalId}:${g.role}`)).toEqual([`${w.co1}:owner`]);
      expect(v.grants.map((g) => g.principalId)).not.toContain(w.leaver);
      await waitForMail(stack, w.email("co1"), 1);
      const items = await eventually(
        "the change log's entries",
        async () =>
          (
            (
              await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/changes?principalId=${w.leaver}`, {
                token: w.adminToken,
              })
            ).json as { items: { action: string; resourceId?: string; actorId: string; detail: string }[] }
          ).items,
        { until: (xs) => xs.some((i) => i.action === "offboard" && !i.resourceId) },
      );
      const reason = how === "deactivate" ? "deactivated" : "removed";
      expect(items.find((i) => i.action === "offboard" && !i.resourceId)?.detail).toContain(`automatic: ${reason}`);
      expect(items.map((i) => i.action)).toContain(
        how === "deactivate" ? "membership.suspended" : "membership.removed",
      );
    });
  }

  it("a SCIM deactivation where autoOffboard is off only suspends: the audit flags the leaver, grants stay", async () => {
    const w = await world();
    await w.put("pV", "co1", { kind: "processMining", displayName: "V" });
    await w.share("pV", "co1", "viewer", ["leaver"]);
    await scimLeave(w, "deactivate");
    const report = await finishedAudit(stack, w.envId, w.adminToken);
    expect(report.findings.filter((f) => f.rule === "leaverNotOffboarded")).toMatchObject([
      { resourceId: "pV", principalId: w.leaver },
    ]);
    const log = (
      await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/changes?principalId=${w.leaver}`, {
        token: w.adminToken,
      })
    ).json as { items: { action: string }[] };
    expect(log.items.map((i) => i.action)).toContain("membership.suspended");
    expect(log.items.map((i) => i.action)).not.toContain("offboard");
    expect((await w.shares("pV")).grants.map((g) => g.principalId)).toContain(w.leaver);
  });

  it("leaves a disabled user alone where autoOffboard is off, and the audit flags them", async () => {
    const w = await world();
    await w.put("pA", "leaver", { kind: "processMining", displayName: "A" });
    await w.updateUser("leaver", { enabled: false });
    const report = await finishedAudit(stack, w.envId, w.adminToken);
    expect(report.findings.filter((f) => f.rule === "leaverNotOffboarded")).toMatchObject([
      { resourceId: "pA", principalId: w.leaver },
    ]);
    expect(await w.shares("pA")).toMatchObject({
      ownerId: w.leaver,
      grants: [{ principalId: w.leaver, role: "owner" }],
    });
  });

  it("refuses what it can't do, saying why: 400, 403, 404 and 422", async () => {
    const w = await world();
    await w.put("pA", "leaver", { kind: "processMining", displayName: "A" });
    await w.post(403, { userId: w.leaver }, await w.token("co1"));
    await w.post(404, { userId: w.leaver }, await stack.token("outsider-user"));
    await expectStatus(stack, 404, "POST", `/api/environments/no-such-env/offboardings`, {
      token: w.adminToken,
      body: { userId: w.leaver },
    });
    const extra = await w.post(400, { userId: w.leaver, extra: true });
    expect(extra.json).toMatchObject({ errors: expect.any(Array) });
    const self = await w.post(400, { userId: w.leaver, successorId: w.leaver });
    expect(JSON.stringify(self.json)).toContain("body.successorId");
    const unknown = await w.post(400, { userId: w.leaver, successorId: "nobody-here" });
    expect(JSON.stringify(unknown.json)).toContain("body.successorId");
    const basic = await w.post(422, { userId: w.leaver, successorId: w.basic });
    expect(basic.json).toMatchObject({ detail: expect.stringMatching(/nothing was offboarded.*EnvironmentMaker/) });
    await w.post(422, { userId: w.leaver, successorId: w.guest, dryRun: true });
    // Nothing was done by the refusals.
    expect(await w.shares("pA")).toMatchObject({
      ownerId: w.leaver,
      grants: [{ principalId: w.leaver, role: "owner" }],
    });
    await expectStatus(stack, 404, "GET", `/api/environments/${w.envId}/offboardings/nope`, { token: w.adminToken });
    const run = (await w.post(200, { userId: w.leaver })).json as Result;
    await expectStatus(stack, 403, "GET", `/api/environments/${w.envId}/offboardings/${run.offboardingId}`, {
      token: await w.token("co1"),
    });
    await expectStatus(
      stack,
      400,
      "GET",
      `/api/environments/${w.envId}/offboardings/${run.offboardingId}?continuationToken=made-up`,
      { token: w.adminToken },
    );

    // The environment's new fields are validated, stored and returned.
    const envPath = `/api/environments/${w.envId}`;
    const bad = await expectStatus(stack, 400, "PUT", envPath, {
      token: w.adminToken,
      body: { displayName: "E", claimDays: 0, maxGrantDays: "long" },
    });
    expect(JSON.stringify(bad.json)).toMatch(
      /body\.claimDays[\s\S]*body\.maxGrantDays|body\.maxGrantDays[\s\S]*body\.claimDays/,
    );
    const ghost = await expectStatus(stack, 400, "PUT", envPath, {
      token: w.adminToken,
      body: { displayName: "E", defaultSuccessorId: "nobody-here" },
    });
    expect(JSON.stringify(ghost.json)).toContain("body.defaultSuccessorId");
    const fields = {
      autoOffboard: true,
      defaultSuccessorId: w.heir,
      claimDays: 5,
      maxGrantDays: 90,
      guestMaxGrantDays: 30,
    };
    const stored = await expectStatus(stack, 200, "PUT", envPath, {
      token: w.adminToken,
      body: { displayName: "E", ...fields },
    });
    expect(stored.json).toMatchObject(fields);
  });
});
