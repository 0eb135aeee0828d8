import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signReviewToken } from "../../shared/reviews/token.js";
import { devAccountKey } from "../../tools/azurite.js";
import { badAuthorizationHeaders, devTokenAttacks } from "../security/forge.js";
import { checkerOf } from "../support/openapiCheck.js";
import { startStack, type Stack } from "../support/stack.js";
import { newWorld, uid } from "../support/world.js";
import { deepJson, encodeComponent, type Tag } from "./hostile.js";
import { rawClient, pool, type RawClient, type RawResponse } from "./rawHttp.js";
import {
  describe as describeRequest,
  operationsOf,
  requestFor,
  type FuzzWorld,
  type Generated,
  type Operation,
} from "./requests.js";

// Hostile input against every route of the OpenAPI document, through HTTP on the local host with
// Azurite: never a 5xx, every answer as the document says for the operation the host routed it to
// (or as the host promises where none took it: test/support/openapiCheck.ts). FUZZ_RUNS scales the
// number of requests, FUZZ_SEED replays a run, FUZZ_SHRINK=1 lets fast-check shrink a failure.

const seed = Number(process.env.FUZZ_SEED ?? 20_261_123);
const total = Number(process.env.FUZZ_RUNS ?? 10_000);
const shrink = process.env.FUZZ_SHRINK === "1";
const batchSize = 250;
const concurrency = 16;
/** No answer may take longer than this, however hostile the request. */
const answerBoundMs = 10_000;

let stack: Stack;
let ops: Operation[];
let world: FuzzWorld;
let client: RawClient;
let ids: { envId: string; resourceId: string; adminToken: string };
let checker: ReturnType<typeof checkerOf>;

beforeAll(async () => {
  stack = await startStack();
  const a = await newWorld(stack);
  const b = await newWorld(stack);
  const maker = await a.user("maker");
  const sysadmin = await a.user("sysadmin", { roles: ["SystemAdministrator"] });
  const viewer = await a.user("viewer");
  await a.user("outsider", { roles: null });
  const otherMaker = await b.user("maker");
  const groupId = uid("group");
  await a.group(groupId, ["viewer"]);
  const pm = await a.resource("maker", { kind: "processMining", analyticsReady: true });
  const tm = await a.resource("maker", { kind: "taskMining" });
  const flow = await a.resource("maker", {
    kind: "cloudFlow",
    triggerKind: "instant",
    connections: [{ id: uid("conn"), connector: "sql", ownerId: maker, usage: "embedded" }],
  });
  const otherRes = await b.resource("maker", { kind: "processMining" });
  const shared = await a.share("maker", pm, "viewer", [{ type: "user", id: viewer }], { sendInvitation: true });
  expect(shared.status, shared.text).toBe(201);
  const invitationId = (shared.json as { invitations: { id: string }[] }).invitations[0]?.id;
  const recordingId = uid("rec");
  expect(
    (await a.as("maker", "PUT", `resources/${tm}/recordings/${recordingId}`, { label: "first" })).status,
  ).toBeLessThan(300);
  const copy = await a.as("maker", "POST", `resources/${flow}/copies`, { recipientIds: [viewer] });
  const copyId = (copy.json as { copies?: { copyId: string }[] } | undefined)?.copies?.[0]?.copyId;
  const audit = await stack.api("POST", `/api/environments/${a.envId}/audits`, { token: a.adminToken });
  const auditId = (audit.json as { auditId?: string } | undefined)?.auditId;
  // An access review with one instance, so the review routes are fuzzed past their 404s.
  const reviewId = uid("review");
  const reviewBody = { displayName: "Fuzz review", scope: {}, reviewers: "owners", durationDays: 7 };
  const reviewPut = await stack.api("PUT", `/api/environments/${a.envId}/reviews/${reviewId}`, {
    token: a.adminToken,
    body: reviewBody,
  });
  expect(reviewPut.status, reviewPut.text).toBe(201);
  const started = await stack.api("POST", `/api/environments/${a.envId}/reviews/${reviewId}/instances`, {
    token: a.adminToken,
  });
  const instanceId = (started.json as { instanceId?: string } | undefined)?.instanceId;
  // The maker's reviewer link to it, so the reviewer page's routes are fuzzed past the link check.
  const reviewPageToken = instanceId
    ? await signReviewToken(stack.settings.INVITATION_SIGNING_KEY ?? "", {
        env: a.envId,
        review: reviewId,
        instance: instanceId,
        reviewer: `u.${maker}`,
        userId: maker,
        expiresAt: new Date(Date.now() + 86_400_000),
      })
    : undefined;

  const devKey = stack.settings.AUTH_DEV_SIGNING_KEY;
  if (devKey === undefined) throw new Error("the fuzz stack needs development tokens");
  const attacks = await devTokenAttacks(devKey, maker);
  world = {
    envIds: [a.envId, b.envId],
    resourceIds: [pm, tm, flow, otherRes],
    userIds: [maker, sysadmin, viewer, a.id("outsider"), otherMaker],
    groupIds: [groupId],
    more: {
      recordingId: [recordingId],
      ...(invitationId ? { invitationId: [invitationId] } : {}),
      ...(copyId ? { copyId: [copyId] } : {}),
      ...(auditId ? { auditId: [auditId] } : {}),
      reviewId: [reviewId],
      ...(instanceId ? { instanceId: [instanceId] } : {}),
      token: ["a.b.c", "not-a-token", uid("inv"), ...(reviewPageToken ? [reviewPageToken] : [])],
    },
    tokens: {
      adminApp: a.adminToken,
      auditApp: await stack.token(uid("audit-app"), ["Sharing.Audit"]),
      checkApp: await stack.token(uid("check-app"), ["Sharing.Check"]),
      unknownRoleApp: await stack.token(uid("odd-app"), ["Sharing.Everything", "' or 1 eq 1 or '"]),
      maker: await a.token("maker"),
      sysadmin: await a.token("sysadmin"),
      viewer: await a.token("viewer"),
      outsider: await a.token("outsider"),
      stranger: await stack.token(uid("stranger")),
      otherEnvMaker: await b.token("maker"),
    },
    badAuthorization: {
      ...Object.fromEntries(Object.entries(attacks).map(([k, t]) => [k, `Bearer ${t}`])),
      ...badAuthorizationHeaders,
    },
  };
  const doc = await stack.api("GET", "/api/openapi.json");
  expect(doc.status).toBe(200);
  ops = operationsOf(doc.json);
  // Compiled once: each schema's validator is built on first use and kept for every later answer.
  checker = checkerOf(doc.text);
  ids = { envId: a.envId, resourceId: pm, adminToken: a.adminToken };
  client = rawClient(stack.baseUrl, { maxSockets: concurrency, timeoutMs: answerBoundMs });
}, 180_000);

afterAll(async () => {
  client?.close();
  await stack?.stop();
});

const stackFrame = /\n\s+at .+(:\d+:\d+|\(native\))/;

/** What is wrong with an answer, or undefined when it is what the contract promises. */
function checkAnswer(g: Generated, res: RawResponse): string | undefined {
  if (res.status >= 500) return `answered ${res.status}`;
  if (res.ms > answerBoundMs) return `took ${Math.round(res.ms)} ms`;
  const secrets = [stack.settings.AUTH_DEV_SIGNING_KEY, stack.settings.INVITATION_SIGNING_KEY, devAccountKey].filter(
    (s): s is string => !!s,
  );
  if (secrets.some((s) => res.text.includes(s))) return "the answer contains a secret";
  if (stackFrame.test(res.text) || res.text.includes("node_modules")) return "the answer contains a stack trace";
  // The answer as the document describes it for the operation the host routed to (problem+json, SCIM's
  // error body on SCIM routes, the invitation pages' HTML), or the host's own answer where none did.
  const contentType = res.headers["content-type"] ?? null;
  const problems = checker.check(g.req.method, g.req.path, res.status, contentType, res.text, (n) => {
    const v = res.headers[n.toLowerCase()];
    return Array.isArray(v) ? v.join(", ") : v;
  });
  if (problems.length > 0) return `not as the OpenAPI document says: ${problems.slice(0, 3).join("; ")}`;
  // What the document can't say: an error body's status is the HTTP status (a string in SCIM's), and the
  // host's 405 names the allowed methods.
  if (res.status >= 400 && /json/.test(contentType ?? "")) {
    const echoed = (JSON.parse(res.text) as { status?: unknown }).status;
    if (String(echoed) !== String(res.status))
      return `the error body's status ${String(echoed)} is not the HTTP status`;
  }
  if (res.status === 405 && !res.headers.allow) return "405 without Allow";
  return undefined;
}

describe("hostile requests on every route", () => {
  it(`${total} generated requests: never a 5xx, every answer as the OpenAPI document says (seed ${seed})`, async () => {
    console.log(
      `fuzz: seed ${seed}, ${total} requests over ${ops.length} routes, ${concurrency} at a time (FUZZ_SEED, FUZZ_RUNS, FUZZ_SHRINK=1 to change)`,
    );
    expect(ops.length).toBeGreaterThanOrEqual(20);
    const byRoute = new Map<string, number>(ops.map((o) => [o.operationId, 0]));
    const byStatus = new Map<number, number>();
    const byTag = new Map<Tag, number>();
    const times: number[] = [];
    let sent = 0;
    const started = performance.now();
    const request = fc.constantFrom(...ops).chain((op) => requestFor(op, world));

    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: batchSize, maxLength: batchSize }), async (batch) => {
        const failures: string[] = [];
        await pool(batch, concurrency, async (g) => {
          let res: RawResponse;
          try {
            res = await client.send(g.req);
          } catch (e) {
            failures.push(`${describeRequest(g)}\n  → no answer: ${e instanceof Error ? e.message : String(e)}`);
            return;
          }
          sent++;
          times.push(res.ms);
          byRoute.set(g.op.operationId, (byRoute.get(g.op.operationId) ?? 0) + 1);
          byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
          for (const t of g.tags) byTag.set(t, (byTag.get(t) ?? 0) + 1);
          const wrong = checkAnswer(g, res);
          if (wrong)
            failures.push(
              `${describeRequest(g)}\n  → ${wrong}: ${res.status} ${String(res.headers["content-type"] ?? "")} ${res.text.slice(0, 400)}`,
            );
        });
        if (failures.length > 0) {
          throw new Error(
            `${failures.length} bad answer(s) in this batch; the first:\n${failures.slice(0, 3).join("\n\n")}\n--- host log tail ---\n${stack.logs().slice(-3000)}`,
          );
        }
      }),
      { seed, numRuns: Math.ceil(total / batchSize), endOnFailure: !shrink },
    );

    const seconds = (performance.now() - started) / 1000;
    times.sort((x, y) => x - y);
    const pct = (q: number) => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0);
    console.log(
      [
        `fuzz: ${sent} requests in ${seconds.toFixed(1)} s (${Math.round(sent / seconds)}/s), latency p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${pct(1)} ms`,
        `  statuses: ${[...byStatus]
          .sort((x, y) => x[0] - y[0])
          .map(([s, n]) => `${s}×${n}`)
          .join(" ")}`,
        `  tags: ${[...byTag]
          .sort((x, y) => y[1] - x[1])
          .map(([t, n]) => `${t}×${n}`)
          .join(" ")}`,
        `  per route: min ${Math.min(...byRoute.values())}, max ${Math.max(...byRoute.values())}`,
      ].join("\n"),
    );

    expect(sent).toBe(Math.ceil(total / batchSize) * batchSize);
    // The mix is measured, not assumed: every route and every kind of attack was really sent.
    const perRoute = Math.floor(sent / ops.length / 3);
    expect([...byRoute].filter(([, n]) => n < perRoute)).toEqual([]);
    const wanted: Tag[] = [
      "quote",
      "pipe",
      "slash",
      "pct2F",
      "odata",
      "traversal",
      "loneSurrogate",
      "rtl",
      "zeroWidth",
      "nul",
      "longId",
      "astral",
      "badPercent",
      "wrongType",
      "missingField",
      "extraField",
      "protoKey",
      "deepNesting",
      "body256k",
      "body1m",
      "notJson",
      "invalidUtf8",
      "wrongContentType",
      "noContentType",
      "noToken",
      "badToken",
      "validToken",
      "wrongMethod",
      "extraQuery",
      "validish",
    ];
    // At least one in a thousand of each (a short FUZZ_RUNS checks nothing here).
    const floor = Math.floor(sent / 1000);
    expect(wanted.filter((t) => (byTag.get(t) ?? 0) < floor).map((t) => `${t}: ${byTag.get(t) ?? 0}`)).toEqual([]);
    // Some requests got through every check: the fuzz reaches the use cases, not only the parsers.
    expect([...byStatus].filter(([s]) => s < 300).reduce((n, [, c]) => n + c, 0)).toBeGreaterThan(sent / 100);
    const health = await stack.api("GET", "/api/health");
    expect(health.status).toBe(200);
  }, 600_000);
});

describe("the worst cases, on every route, deterministically", () => {
  /** The route's path with real ids where the route has parameters. */
  const pathOf = (op: Operation, override?: string) =>
    op.template.replace(/\{(\w+)\}/g, (_m, name: string) => {
      if (override !== undefined) return override;
      if (name === "envId") return ids.envId;
      if (name === "resourceId") return ids.resourceId;
      if (name === "principalType") return "user";
      if (name === "role") return "viewer";
      return world.userIds[0] ?? "x";
    });
  const send = async (op: Operation, path: string, headers: Record<string, string>, body?: string | Buffer) => {
    const res = await client.send({ method: op.method, path, headers, ...(body !== undefined ? { body } : {}) });
    const g: Generated = { op, req: { method: op.method, path, headers }, tags: new Set() };
    const wrong = checkAnswer(g, res);
    return {
      res,
      wrong: wrong ? `${op.method} ${op.template}: ${wrong}: ${res.status} ${res.text.slice(0, 200)}` : undefined,
    };
  };

  it("a body over the host's 16 MiB limit: 413 problem+json everywhere", async () => {
    const big = JSON.stringify({ displayName: "a".repeat(16 * 1024 * 1024 + 1024) });
    const results = await pool(ops, 4, (op) =>
      send(op, pathOf(op), { authorization: `Bearer ${ids.adminToken}`, "content-type": "application/json" }, big),
    );
    expect(results.map((r) => r.wrong).filter(Boolean)).toEqual([]);
    expect(results.filter((r) => r.res.status !== 413).map((r) => r.res.status)).toEqual([]);
  });

  it("a body over the app's 256 KiB limit, a 20,000-deep body, a text/plain body: 400 naming the field on every route with a body", async () => {
    const bodyOps = ops.filter((o) => o.body !== undefined);
    expect(bodyOps.length).toBeGreaterThanOrEqual(8);
    const cases: [string, string, string][] = [
      ["application/json", JSON.stringify({ displayName: "\u202E".repeat(100 * 1024) }), "body"],
      ["application/json", deepJson(20_000, "array"), "body"],
      ["application/json", deepJson(8_000, "object"), "body"],
      ["text/plain", JSON.stringify({ displayName: "x" }), "header.content-type"],
    ];
    for (const [contentType, body, field] of cases) {
      const results = await pool(bodyOps, 4, (op) =>
        send(op, pathOf(op), { authorization: `Bearer ${ids.adminToken}`, "content-type": contentType }, body),
      );
      expect(results.map((r) => r.wrong).filter(Boolean)).toEqual([]);
      const statuses = results.map((r, i) => `${bodyOps[i]!.operationId} ${r.res.status}`);
      expect(statuses.filter((s) => !s.endsWith(" 400"))).toEqual([]);
      for (const r of results) {
        const answer = JSON.parse(r.res.text) as { errors?: { field: string }[]; detail?: string };
        const errors = answer.errors ?? [];
        // SCIM's error body has no `errors`: its detail names the fields (`body.userName: …`).
        const named =
          errors.some((e) => e.field === field || (field === "body" && e.field.startsWith("body"))) ||
          (errors.length === 0 && (answer.detail ?? "").includes(`${field}`));
        expect(named, r.res.text.slice(0, 300)).toBe(true);
      }
    }
  });

  it("no token: 401 problem+json with WWW-Authenticate on every route that takes one, and never on the others", async () => {
    const results = await pool(ops, 8, (op) =>
      send(op, pathOf(op), { "content-type": "application/json" }, op.body ? "{}" : undefined),
    );
    expect(results.map((r) => r.wrong).filter(Boolean)).toEqual([]);
    const wrong = ops
      .filter((op, i) => (results[i]!.res.status === 401) !== op.auth)
      .map((op, i) => `${op.operationId}: ${results[i]!.res.status}`);
    expect(wrong).toEqual([]);
  });

  it("an id that is a lone surrogate, a NUL, an OData escape or a percent-encoded slash: a 4xx problem+json, never a 5xx", async () => {
    const withParams = ops.filter((o) => o.pathParams.length > 0 && o.auth);
    for (const id of [
      "%ED%A0%80",
      encodeComponent("\0"),
      encodeComponent("' or PartitionKey ne '"),
      "a%2Fb",
      encodeComponent(`${ids.envId}|${ids.resourceId}`),
      "..",
      "%2e%2e",
    ]) {
      const results = await pool(withParams, 8, (op) =>
        send(
          op,
          pathOf(op, id),
          { authorization: `Bearer ${ids.adminToken}`, "content-type": "application/json" },
          op.body ? "{}" : undefined,
        ),
      );
      expect(results.map((r) => r.wrong).filter(Boolean)).toEqual([]);
      expect(
        results.filter((r) => r.res.status < 400 || r.res.status >= 500).map((r) => `${id}: ${r.res.status}`),
      ).toEqual([]);
    }
  });
});

describe("what this fuzz found, pinned", () => {
  const admin = () => ({ token: ids.adminToken });
  const user = (displayName: string) => ({
    email: `${uid("u")}@contoso.example`,
    displayName,
    userType: "member",
    enabled: true,
    license: "paid",
  });

  it("a name with a lone surrogate is refused (400 naming the field) and does not wedge the user: a later valid PUT works", async () => {
    // Was: the name reached a search row key, the SDK could not encode it, 503, and every later PUT of that user 503'd too.
    const userId = uid("lone");
    const bad = await stack.api("PUT", `/api/users/${userId}`, { ...admin(), body: user("ab\uD800c") });
    expect(bad.status, bad.text).toBe(400);
    expect((bad.json as { errors: { field: string }[] }).errors.map((e) => e.field)).toContain("body.displayName");
    const good = await stack.api("PUT", `/api/users/${userId}`, { ...admin(), body: user("Ab C") });
    expect(good.status, good.text).toBeLessThan(300);
    const group = await stack.api("PUT", `/api/environments/${ids.envId}/groups/${uid("g")}`, {
      ...admin(),
      body: { displayName: "\uDFFF", kind: "securityGroup", memberIds: [] },
    });
    expect(group.status, group.text).toBe(400);
  });

  it("a search ending in a character whose UTF-16 form ends in \\uDFFF (🏿, U+10FFFF) or in \\uD7FF answers 200 and finds the user", async () => {
    // Was: the range's upper bound became a lone surrogate, the SDK could not encode the filter, 503.
    for (const name of ["Zoë \u{1F3FF}", "x\u{10FFFF}", "y\uD7FF"]) {
      const userId = uid("astral");
      expect((await stack.api("PUT", `/api/users/${userId}`, { ...admin(), body: user(name) })).status).toBeLessThan(
        300,
      );
      const found = await stack.api(
        "GET",
        `/api/environments/${ids.envId}/directory?search=${encodeURIComponent(name.toLowerCase())}`,
        admin(),
      );
      expect(found.status, found.text).toBe(200);
      expect((found.json as { items: { id: string }[] }).items.map((i) => i.id)).toContain(userId);
    }
  });

  it("a continuation token the storage SDK can't read is a 400 naming query.continuationToken, not a 503", async () => {
    // Was: the SDK threw decoding it, and the adapter reported storage as unavailable.
    const maker = world.userIds[0]!;
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    for (const token of ["abc", b64("null"), b64('{"nextPartitionKey":{"a":1}}'), b64("[1]"), "%%%"]) {
      const listed = await stack.api(
        "GET",
        `/api/environments/${ids.envId}/principals/${maker}/resources?continuationToken=${encodeURIComponent(token)}`,
        admin(),
      );
      expect(listed.status, `${token}: ${listed.text}`).toBe(400);
      expect((listed.json as { errors: { field: string }[] }).errors.map((e) => e.field)).toContain(
        "query.continuationToken",
      );
    }
    // The change log wraps the SDK's token in its own; a well-formed wrapper around garbage is refused the same way.
    const wrapped = Buffer.from(JSON.stringify({ s: "e", c: "not-base64-json" })).toString("base64url");
    const changes = await stack.api(
      "GET",
      `/api/environments/${ids.envId}/changes?continuationToken=${wrapped}`,
      admin(),
    );
    expect(changes.status, changes.text).toBe(400);
  });
});
