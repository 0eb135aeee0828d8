import { TableClient } from "@azure/data-tables";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { signReportToken } from "../../shared/reports/token.js";
import { signReviewToken } from "../../shared/reviews/token.js";
import { keys, tableNames } from "../../shared/store/keys.js";
import { encodeComponent } from "../fuzz/hostile.js";
import { rawClient, type RawClient, type RawResponse } from "../fuzz/rawHttp.js";
import { operationsOf, validish, type FuzzWorld, type Operation } from "../fuzz/requests.js";
import { startStorageFaults, type FaultMode, type StorageFaults } from "../support/faultProxy.js";
import { startStack, type Stack } from "../support/stack.js";
import { linkIn, tokenOf, waitForMail } from "../support/mail.js";
import { eventually } from "../support/poll.js";
import { newWorld, uid } from "../support/world.js";

// Storage failing under the running app: the host reaches Azurite through a TCP fault proxy that
// refuses, resets or black-holes connections. While storage is down every call that needs it is a
// quick 503 problem+json; once it is back, nothing is half-written.

/** No answer, however storage fails, may take longer than this. */
const boundMs = 15_000;

let stack: Stack;
let faults: StorageFaults;
let client: RawClient;

beforeAll(async () => {
  stack = await startStack();
  faults = await startStorageFaults(stack.storageConnectionString);
  // The same Azurite, now behind the proxies; `stack.storageConnectionString` still reads it directly.
  await stack.restartHost({ AzureWebJobsStorage: faults.connectionString });
  client = rawClient(stack.baseUrl, { maxSockets: 64, timeoutMs: boundMs + 30_000 });
}, 180_000);

afterEach(async () => {
  await restore();
});

afterAll(async () => {
  client?.close();
  await stack?.stop();
  await faults?.close();
});

async function restore(): Promise<void> {
  await faults.set("pass");
  try {
    await eventually("GET /api/health to answer 200 once storage is back", () => stack.api("GET", "/api/health"), {
      until: (r) => r.status === 200,
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${stack.logs().slice(-3000)}`, { cause: error });
  }
}

const table = (name: keyof ReturnType<typeof tableNames>) =>
  TableClient.fromConnectionString(
    stack.storageConnectionString,
    tableNames(stack.settings.TABLE_PREFIX ?? "sharing")[name],
    { allowInsecureConnection: true },
  );

async function rowsOf(
  name: keyof ReturnType<typeof tableNames>,
  pk: string,
): Promise<{ rowKey: string; json: string }[]> {
  const out: { rowKey: string; json: string }[] = [];
  for await (const e of table(name).listEntities<{ json: string }>({
    queryOptions: { filter: `PartitionKey eq '${pk.replace(/'/g, "''")}'` },
  }))
    out.push({ rowKey: e.rowKey ?? "", json: e.json });
  return out;
}

type Answer = { what: string; res: RawResponse };

/** Problems with an answer given while storage is down; `storageFree` routes may answer as usual. */
function wrongWhileDown(a: Answer, expect503: boolean): string | undefined {
  const { res } = a;
  if (res.ms > boundMs) return `${a.what}: took ${Math.round(res.ms)} ms`;
  if (res.status >= 500 && res.status !== 503) return `${a.what}: ${res.status} ${res.text.slice(0, 200)}`;
  const type = String(res.headers["content-type"] ?? "");
  if (
    res.status >= 400 &&
    !/^application\/problem\+json/.test(type) &&
    // The pages people open from an email answer as pages: invitations, ownership claims, reviews, reports.
    !(/\/(invitations|claims|review-pages|reports)\//.test(a.what) && /^text\/html/.test(type)) &&
    !(a.what.includes("/scim/v2/") && /^application\/scim\+json/.test(type))
  )
    return `${a.what}: ${res.status} as ${type}`;
  if (res.status === 503 && /problem\+json/.test(type)) {
    const p = JSON.parse(res.text) as { status?: number; title?: string; detail?: string };
    if (p.status !== 503 || !p.title || typeof p.detail !== "string")
      return `${a.what}: a 503 problem without status/title/detail`;
    if (!res.headers["retry-after"]) return `${a.what}: a 503 without Retry-After`;
  }
  if (res.status === 503 && /scim\+json/.test(type)) {
    const p = JSON.parse(res.text) as { status?: string; detail?: string };
    if (p.status !== "503" || typeof p.detail !== "string") return `${a.what}: a 503 SCIM error without status/detail`;
    if (!res.headers["retry-after"]) return `${a.what}: a 503 without Retry-After`;
  }
  if (expect503 && res.status !== 503)
    return `${a.what}: ${res.status} while storage is down ${res.text.slice(0, 200)}`;
  return undefined;
}

describe.each<FaultMode>(["refuse", "reset", "hang"])("storage %s", (mode) => {
  it("health is 503 and every call that needs storage is a quick 503 problem+json; then it recovers", async () => {
    const w = await newWorld(stack);
    const maker = await w.user("maker");
    const viewer = await w.user("viewer");
    const other = await w.user("other");
    const pm = await w.resource("maker", { kind: "processMining" });
    const tm = await w.resource("maker", { kind: "taskMining" });
    const flow = await w.resource("maker", { kind: "cloudFlow", triggerKind: "instant" });
    const shared = await w.share("maker", pm, "viewer", [{ type: "user", id: viewer }], { sendInvitation: true });
    expect(shared.status).toBe(201);
    const invitationId = (shared.json as { invitations: { id: string }[] }).invitations[0]!.id;
    const [invitation] = await waitForMail(stack, w.email("viewer"));
    const token = tokenOf(linkIn(stack, invitation!));
    const makerToken = await w.token("maker");
    const admin = w.adminToken;
    const signingKey = stack.settings.INVITATION_SIGNING_KEY!;
    const inADay = new Date(Date.now() + 86_400_000);
    const reviewToken = await signReviewToken(signingKey, {
      env: w.envId,
      review: "r1",
      instance: "i1",
      reviewer: `u.${viewer}`,
      userId: viewer,
      expiresAt: inADay,
    });
    const reportToken = await signReportToken(signingKey, { envId: w.envId, auditId: "a1", expiresAt: inADay });
    const provisioner = await stack.token(uid("entra"), ["Sharing.Provisioning"]);
    const env = `/api/environments/${w.envId}`;
    const user = {
      email: `${uid("u")}@contoso.example`,
      displayName: "U",
      userType: "member",
      enabled: true,
      license: "paid",
    };
    // Requests that pass every check before storage: with storage up each would succeed (or answer 4xx from state).
    const needsStorage: [string, string, string, unknown?][] = [
      ["GET", "/api/health", ""],
      ["GET", `${env}/resources/${pm}`, makerToken],
      ["GET", `${env}/resources/${pm}/shares`, makerToken],
      [
        "POST",
        `${env}/resources/${pm}/shares`,
        makerToken,
        { role: "viewer", principals: [{ type: "user", id: other }], sendInvitation: true },
      ],
      ["DELETE", `${env}/resources/${pm}/shares/user/${viewer}/viewer`, makerToken],
      [
        "PUT",
        `${env}/resources/${pm}`,
        makerToken,
        { kind: "processMining", displayName: "renamed", creatorId: maker },
      ],
      ["DELETE", `${env}/resources/${flow}`, makerToken],
      ["PUT", `${env}/resources/${tm}/recordings/${uid("rec")}`, makerToken, { label: "r" }],
      ["GET", `${env}/resources/${pm}/access/${viewer}`, makerToken],
      [
        "POST",
        `${env}/check`,
        makerToken,
        { checks: [{ principalId: viewer, resourceId: pm, action: "processMining.viewAnalytics" }] },
      ],
      ["GET", `${env}/principals/${maker}/resources`, makerToken],
      ["GET", `${env}/directory?search=a`, makerToken],
      [
        "GET",
        `${env}/scim/v2/Users?filter=${encodeURIComponent(`userName eq "${maker}@contoso.example"`)}`,
        provisioner,
      ],
      ["GET", `${env}/changes`, admin],
      ["POST", `${env}/resources/${pm}/invitations/${invitationId}/resend`, makerToken],
      ["POST", `${env}/resources/${flow}/copies`, makerToken, { recipientIds: [viewer] }],
      ["POST", `${env}/reassignments`, admin, { fromUserId: maker, toUserId: other, dryRun: true }],
      ["POST", `${env}/audits`, admin],
      ["PUT", `/api/users/${uid("u")}`, admin, user],
      ["PUT", `${env}/users/${other}`, admin, { securityRoles: ["BasicUser"] }],
      ["PUT", `${env}/groups/${uid("g")}`, admin, { displayName: "G", kind: "securityGroup", memberIds: [viewer] }],
      ["PUT", `/api/environments/${uid("env")}`, admin, { displayName: "E" }],
      ["GET", `/api/invitations/${token}`, ""],
      ["POST", `/api/invitations/${token}/accept`, ""],
      // Good links of the other email pages: past the signature check, each needs storage.
      ["GET", `/api/review-pages/${reviewToken}`, ""],
      ["GET", `/api/reports/${reportToken}`, ""],
      ["GET", `/api/reports/${reportToken}/findings.csv`, ""],
    ];
    const send = async ([method, path, bearer, body]: [string, string, string, unknown?]): Promise<Answer> => ({
      what: `${method} ${path}`,
      res: await client.send({
        method,
        path,
        headers: {
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      }),
    });

    // Every route of the OpenAPI document too, with real ids and schema-valid bodies (new routes included).
    const ops = operationsOf((await stack.api("GET", "/api/openapi.json")).json);
    const fw: FuzzWorld = {
      envIds: [w.envId],
      resourceIds: [pm],
      userIds: [maker, viewer],
      groupIds: [],
      more: { token: [token], invitationId: [invitationId] },
      tokens: {},
      badAuthorization: {},
    };
    const everyRoute = ops.map((op: Operation): [string, string, string, unknown?] => {
      const path = op.template.replace(/\{(\w+)\}/g, (_m, name: string) =>
        encodeComponent(
          String(
            fc.sample(validish(op.pathParams.find((p) => p.name === name)!.schema, name, fw), {
              seed: 1,
              numRuns: 1,
            })[0],
          ),
        ),
      );
      const body = op.body ? fc.sample(validish(op.body, "body", fw), { seed: 7, numRuns: 1 })[0] : undefined;
      return [op.method, path, admin, body];
    });

    await faults.set(mode);
    const started = performance.now();
    const [down, swept] = await Promise.all([Promise.all(needsStorage.map(send)), Promise.all(everyRoute.map(send))]);
    const elapsed = performance.now() - started;
    const problems = [
      ...down.map((a) => wrongWhileDown(a, true)),
      ...swept.map((a) => wrongWhileDown(a, false)),
    ].filter(Boolean);
    expect(problems, stack.logs().slice(-2000)).toEqual([]);
    // The sweep of every route is no formality: most of them needed storage.
    expect(swept.filter((a) => a.res.status === 503).length).toBeGreaterThan(ops.length / 2);
    console.log(
      `storage ${mode}: ${down.length + swept.length} calls answered in ${Math.round(elapsed)} ms (slowest ${Math.round(Math.max(...[...down, ...swept].map((a) => a.res.ms)))} ms)`,
    );

    await restore();
    const again = await stack.api("GET", `${env}/resources/${pm}`, { token: makerToken });
    expect(again.status).toBe(200);
  }, 120_000);

  it("a burst of shares cut mid-way: once storage is back and the sweeper ran, each grant is whole (grant, index, change log) or absent, and every 201 stands", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    const pm = await w.resource("maker", { kind: "processMining" });
    const names = Array.from({ length: 24 }, (_, i) => `u${i}`);
    const ids = await Promise.all(names.map((n) => w.user(n)));
    const makerToken = await w.token("maker");

    let firstAnswered!: () => void;
    const oneAnswered = new Promise<void>((resolve) => (firstAnswered = resolve));
    const burst = ids.map(async (id, i) => {
      const res = await client.send({
        method: "POST",
        path: `/api/environments/${w.envId}/resources/${pm}/shares`,
        headers: { authorization: `Bearer ${makerToken}`, "content-type": "application/json" },
        body: JSON.stringify({ role: "viewer", principals: [{ type: "user", id }], sendInvitation: i % 2 === 0 }),
      });
      firstAnswered();
      return res;
    });
    // Cut as soon as the first share is answered: the rest are in flight, retrying on the meta ETag.
    // (Racing the whole burst only so that a share that throws fails the test instead of hanging it.)
    await Promise.race([oneAnswered, Promise.all(burst)]);
    await faults.set(mode);
    const answers = await Promise.all(burst);
    await restore();

    const statuses = answers.map((a) => a.status);
    expect(answers.filter((a) => a.ms > boundMs).map((a) => Math.round(a.ms))).toEqual([]);
    expect(statuses.filter((s) => s >= 500 && s !== 503)).toEqual([]);
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(1);
    // The cut really caught shares in flight (otherwise this test proved nothing).
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(1);

    const resourcePk = keys.resourcePk(w.envId, pm);
    // The sweeper finishes what the relays could not (it may need more than one pass if a relay raced it).
    const resourceRows = await eventually(
      "the sweeper to leave no outbox row",
      async () => {
        await stack.runFunction("outboxSweeper");
        return rowsOf("resources", resourcePk);
      },
      { until: (rows) => rows.every((r) => !r.rowKey.startsWith(keys.outboxPrefix)) },
    );
    const logRows = await rowsOf("changes", w.envId);
    const grantChanges = (rows: { json: string }[], id: string) =>
      rows
        .map((r) => JSON.parse(r.json) as { action?: string; principal?: { id: string }; resourceId?: string })
        .filter((c) => c.action === "grant" && c.principal?.id === id && c.resourceId === pm).length;

    const report: string[] = [];
    for (const [i, id] of ids.entries()) {
      const grant = resourceRows.some((r) => r.rowKey === keys.grantRk({ type: "user", id }, "viewer"));
      const index = (await rowsOf("principals", keys.principalPk({ type: "user", id }))).some(
        (r) => r.rowKey === keys.indexRk(w.envId, pm, "direct"),
      );
      const inResourceLog = grantChanges(
        resourceRows.filter((r) => r.rowKey.startsWith(keys.changePrefix)),
        id,
      );
      const inEnvLog = grantChanges(logRows, id);
      const listed = await w.as(names[i]!, "GET", `principals/${id}/resources`);
      const inListing =
        (listed.json as { resources?: { resourceId: string }[] }).resources?.some((r) => r.resourceId === pm) ?? false;
      const whole = grant && index && inResourceLog === 1 && inEnvLog === 1 && inListing;
      const absent = !grant && !index && inResourceLog === 0 && inEnvLog === 0 && !inListing;
      if (!(whole || absent) || (statuses[i] === 201 && !whole)) {
        report.push(
          `${id}: answered ${statuses[i]}, grant ${grant}, index ${index}, resource log ${inResourceLog}, env log ${inEnvLog}, listed ${inListing}`,
        );
      }
    }
    expect(report).toEqual([]);
    console.log(
      `storage ${mode} mid-burst: ${statuses.filter((s) => s === 201).length} granted (201), ${statuses.filter((s) => s === 503).length} refused (503), ${statuses.filter((s) => s === 409).length} conflicts (409)`,
    );
  }, 120_000);
});

describe("concurrent updates of one resource resolve by ETag, nothing lost", () => {
  it("N concurrent shares of different principals to the same resource all land", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    const pm = await w.resource("maker", { kind: "processMining" });
    const ids = await Promise.all(Array.from({ length: 16 }, (_, i) => w.user(`p${i}`)));
    const answers = await Promise.all(ids.map((id) => w.share("maker", pm, "viewer", [{ type: "user", id }])));
    expect(answers.map((a) => a.status)).toEqual(ids.map(() => 201));
    const shares = await w.as("maker", "GET", `resources/${pm}/shares`);
    const granted = JSON.stringify(shares.json);
    expect(ids.filter((id) => !granted.includes(id))).toEqual([]);
    const rows = await rowsOf("resources", keys.resourcePk(w.envId, pm));
    expect(ids.filter((id) => !rows.some((r) => r.rowKey === keys.grantRk({ type: "user", id }, "viewer")))).toEqual(
      [],
    );
  });

  it("concurrent PUTs of one resource with the same If-Match: exactly one wins, the others are 409, and the stored resource is the winner's", async () => {
    const w = await newWorld(stack);
    const maker = await w.user("maker");
    const pm = await w.resource("maker", { kind: "processMining" });
    const read = await w.as("maker", "GET", `resources/${pm}`);
    const etag = read.headers.get("etag");
    expect(etag).toBeTruthy();
    const token = await w.token("maker");
    const names = Array.from({ length: 8 }, (_, i) => `writer ${i} ${uid("n")}`);
    const answers = await Promise.all(
      names.map((displayName) =>
        stack.api("PUT", `/api/environments/${w.envId}/resources/${pm}`, {
          token,
          headers: { "if-match": etag! },
          body: { kind: "processMining", displayName, creatorId: maker },
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(names.length - 1);
    const winner = names[statuses.indexOf(200)]!;
    const now = await w.as("maker", "GET", `resources/${pm}`);
    expect(JSON.stringify(now.json)).toContain(winner);
    expect(now.headers.get("etag")).not.toBe(etag);
    // The winner's ETag works for the next write; the old one no longer does.
    expect(
      (
        await stack.api("PUT", `/api/environments/${w.envId}/resources/${pm}`, {
          token,
          headers: { "if-match": etag! },
          body: { kind: "processMining", displayName: "late", creatorId: maker },
        })
      ).status,
    ).toBe(409);
    expect(
      (
        await stack.api("PUT", `/api/environments/${w.envId}/resources/${pm}`, {
          token,
          headers: { "if-match": now.headers.get("etag")! },
          body: { kind: "processMining", displayName: "next", creatorId: maker },
        })
      ).status,
    ).toBe(200);
  });
});
