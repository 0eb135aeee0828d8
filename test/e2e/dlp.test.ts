import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/poll.js";
import { startStack, type Stack } from "../support/stack.js";
import {
  expectProblem,
  expectStatus,
  finishedAudit,
  newWorld,
  type AuditFinding,
  type EnvironmentSpec,
} from "../support/world.js";

// Data loss prevention per environment and the best-practice audit rules (seed 004), through HTTP.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

const policy = { business: ["SharePoint", "Office 365 Outlook"], nonBusiness: ["Gmail"], blocked: ["Twitter"] };

type Connection = { id: string; connector: string; ownerId: string; usage: "embedded" | "other" };
type Finding = AuditFinding;

async function world(spec: EnvironmentSpec = { dlp: policy }) {
  const w = await newWorld(stack, spec);
  await w.user("maker");
  await w.user("member");
  await w.user("guest", { userType: "guest" });
  const flow = (maker: string, connections: Connection[], id?: string) =>
    w.as(
      maker,
      "PUT",
      `resources/${
        id ??
        `flow-${connections
          .map((c) => c.connector)
          .join("-")
          .replace(/\W/g, "")}`
      }`,
      {
        kind: "cloudFlow",
        displayName: "A flow",
        creatorId: w.id(maker),
        solutionAware: true,
        triggerKind: "instant",
        connections,
      },
    );
  const conn = (id: string, connector: string, usage: Connection["usage"] = "embedded"): Connection => ({
    id,
    connector,
    ownerId: w.id("maker"),
    usage,
  });
  const audit = () => finishedAudit(stack, w.envId, w.adminToken);
  return { ...w, flow, conn, audit };
}

describe("data loss prevention, through HTTP", () => {
  it("an environment takes a policy, reads it back and logs the change; a bad policy is a 400 naming the field", async () => {
    const w = await world({});
    const env = `/api/environments/${w.envId}`;
    const put = (dlp: unknown) =>
      stack.api("PUT", env, { token: w.adminToken, body: { displayName: `Env ${w.envId}`, dlp } });
    expect((await put(policy)).status).toBe(200);
    const got = await expectStatus(stack, 200, "GET", env, { token: w.adminToken });
    expect((got.json as { dlp: unknown }).dlp).toEqual(policy);
    const log = await eventually(
      "the environment's change entry",
      async () =>
        (
          (await expectStatus(stack, 200, "GET", `${env}/changes`, { token: w.adminToken })).json as {
            items: { action: string; detail: string }[];
          }
        ).items,
      { until: (xs) => xs.some((x) => x.action === "environment.updated") },
    );
    expect(log.find((x) => x.action === "environment.updated")?.detail).toContain("data loss prevention policy set");

    const twice = expectProblem(await put({ business: ["SharePoint"], blocked: ["Twitter", "sharepoint"] }), 400);
    expect(twice.errors).toEqual([expect.objectContaining({ field: "body.dlp.blocked[1]" })]);
    expect(twice.errors?.[0]?.message).toContain("business[0]");
    const many = expectProblem(await put({ nonBusiness: Array.from({ length: 51 }, (_, i) => `c${i}`) }), 400);
    expect(many.errors?.map((e) => e.field)).toEqual(["body.dlp.nonBusiness"]);
    const bad = expectProblem(await put({ blocked: ["ok", 'say "hi"'], other: [] }), 400);
    expect(bad.errors?.map((e) => e.field).sort()).toEqual(["body.dlp", "body.dlp.blocked[1]"]);
    // Nothing of a refused policy was stored.
    expect(
      ((await expectStatus(stack, 200, "GET", env, { token: w.adminToken })).json as { dlp: unknown }).dlp,
    ).toEqual(policy);
  });

  it("a flow with a blocked connector, or mixing business and non-business ones, is a 422 naming them", async () => {
    const w = await world();
    const blocked = expectProblem(await w.flow("maker", [w.conn("c1", "twitter"), w.conn("c2", "Gmail")]), 422);
    expect(blocked.detail).toContain('"twitter"');
    expect(blocked.detail).toContain("blocks");
    expect(blocked.errors).toEqual([
      { field: "body.connections[0].connector", message: '"twitter" is blocked by the policy' },
    ]);

    const mixed = expectProblem(await w.flow("maker", [w.conn("c1", "SharePoint"), w.conn("c2", "Gmail")]), 422);
    expect(mixed.detail).toContain('"SharePoint"');
    expect(mixed.detail).toContain('"Gmail"');
    expect(mixed.errors?.map((e) => e.field)).toEqual([
      "body.connections[0].connector",
      "body.connections[1].connector",
    ]);
    // An unlisted connector is non-business: it doesn't mix with business ones either.
    const unlisted = expectProblem(await w.flow("maker", [w.conn("c1", "Dropbox"), w.conn("c2", "SharePoint")]), 422);
    expect(unlisted.detail).toContain('"Dropbox"');

    // Allowed: business only (in any case), non-business only.
    expect(
      (await w.flow("maker", [w.conn("c1", "sharepoint"), w.conn("c2", "Office 365 Outlook")], "f-biz")).status,
    ).toBe(201);
    expect((await w.flow("maker", [w.conn("c1", "Gmail"), w.conn("c2", "Dropbox")], "f-personal")).status).toBe(201);
    // An `other` connection isn't used by the flow: it doesn't count, and the update goes through.
    const withOther = [
      w.conn("c1", "sharepoint"),
      w.conn("c2", "Office 365 Outlook"),
      w.conn("c3", "Twitter", "other"),
    ];
    expect((await w.flow("maker", withOther, "f-biz")).status).toBe(200);
    // Using it is refused, and the flow stays as it was.
    const using = expectProblem(
      await w.flow("maker", [w.conn("c1", "sharepoint"), w.conn("c3", "Twitter")], "f-biz"),
      422,
    );
    expect(using.errors?.map((e) => e.field)).toEqual(["body.connections[1].connector"]);
    const stored = (await w.as("maker", "GET", "resources/f-biz")).json as { resource: { connections: Connection[] } };
    expect(stored.resource.connections.map((c) => `${c.connector}:${c.usage}`)).toEqual([
      "sharepoint:embedded",
      "Office 365 Outlook:embedded",
      "Twitter:other",
    ]);
  });

  it("the OpenAPI document describes the policy on the environment's body", async () => {
    const doc = (await expectStatus(stack, 200, "GET", "/api/openapi.json")).json as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>>;
    };
    const body = doc.paths["/api/environments/{envId}"]?.put?.requestBody?.content["application/json"]?.schema as {
      properties: { dlp: { description: string; properties: Record<string, { maxItems: number }> } };
    };
    expect(Object.keys(body.properties.dlp.properties).sort()).toEqual(["blocked", "business", "nonBusiness"]);
    expect(body.properties.dlp.properties.blocked?.maxItems).toBe(50);
    expect(body.properties.dlp.description).toContain("non-business");
  });

  it("without a policy nothing is refused", async () => {
    const w = await world({});
    expect((await w.flow("maker", [w.conn("c1", "Twitter"), w.conn("c2", "SharePoint")])).status).toBe(201);
  });

  it("sharing a flow with non-business connectors warns for guests and run-only users, and goes ahead", async () => {
    const w = await world();
    expect((await w.flow("maker", [w.conn("c1", "Gmail")], "f-personal")).status).toBe(201);
    expect((await w.flow("maker", [w.conn("c1", "SharePoint")], "f-biz")).status).toBe(201);
    const warningsOf = async (resourceId: string, role: string, who: string) => {
      const r = await w.share("maker", resourceId, role, [{ type: "user", id: w.id(who) }]);
      expect(r.status, r.text).toBe(201);
      return (r.json as { warnings: string[] }).warnings;
    };
    const runOnly = await warningsOf("f-personal", "runOnly", "member");
    expect(runOnly).toHaveLength(1);
    expect(runOnly[0]).toContain('"Gmail"');
    expect(runOnly[0]).toContain(`user ${w.id("member")} (run-only)`);
    const guestOwner = await warningsOf("f-personal", "owner", "guest");
    expect(guestOwner).toEqual([expect.stringContaining(`guest user ${w.id("guest")}`)]);
    // A member owner, or a business-only flow: no warning.
    await w.user("colleague");
    expect(await warningsOf("f-personal", "owner", "colleague")).toEqual([]);
    expect(await warningsOf("f-biz", "runOnly", "member")).toEqual([]);
    expect(await warningsOf("f-biz", "owner", "guest")).toEqual([]);
    // The shares went ahead.
    const shares = (await w.as("maker", "GET", "resources/f-personal/shares")).json as {
      grants: { principalId: string; role: string }[];
    };
    expect(shares.grants.map((g) => `${g.principalId}:${g.role}`)).toEqual(
      expect.arrayContaining([`${w.id("member")}:runOnly`, `${w.id("guest")}:owner`]),
    );
  });

  it("the audit flags flows with non-business connectors shared with guests or run-only users", async () => {
    const w = await world();
    expect((await w.flow("maker", [w.conn("c1", "Gmail")], "f-guest")).status).toBe(201);
    expect((await w.flow("maker", [w.conn("c1", "Gmail")], "f-members")).status).toBe(201);
    expect((await w.flow("maker", [w.conn("c1", "SharePoint")], "f-biz")).status).toBe(201);
    expect((await w.share("maker", "f-guest", "runOnly", [{ type: "user", id: w.id("guest") }])).status).toBe(201);
    expect((await w.share("maker", "f-members", "owner", [{ type: "user", id: w.id("member") }])).status).toBe(201);
    expect((await w.share("maker", "f-biz", "runOnly", [{ type: "user", id: w.id("guest") }])).status).toBe(201);
    const report = await w.audit();
    const dlp = report.findings.filter((f) => f.rule === "nonBusinessFlowShared");
    expect(dlp.map((f) => f.resourceId)).toEqual(["f-guest"]);
    expect(dlp[0]?.detail).toContain('"Gmail"');
    expect(dlp[0]?.detail).toContain(`guest user ${w.id("guest")}`);
  });
});

describe("the best-practice audit rules, through HTTP", () => {
  it("flags owners and co-owners without a maker role, not viewers or run-only users", async () => {
    const w = await world({});
    await w.user("basic", { roles: ["BasicUser"] });
    await w.user("none", { roles: [] });
    const p = await w.resource("maker", { kind: "processMining" });
    expect((await w.share("maker", p, "coOwner", [{ type: "user", id: w.id("basic") }])).status).toBe(201);
    expect((await w.share("maker", p, "viewer", [{ type: "user", id: w.id("none") }])).status).toBe(201);
    const report = await w.audit();
    const roleless = report.findings.filter((f) => f.rule === "ownerWithoutMakerRole");
    expect(roleless).toEqual([expect.objectContaining({ resourceId: p, principalId: w.id("basic"), severity: "low" })]);
    expect(roleless[0]?.detail).toContain("EnvironmentMaker");
  });

  it("flags owners who are not members once autoOffboard is on; while it is off they are leavers, flagged once", async () => {
    const w = await world({});
    await w.user("leaver");
    await w.user("viewer");
    const p = await w.resource("maker", { kind: "processMining" });
    expect((await w.share("maker", p, "coOwner", [{ type: "user", id: w.id("leaver") }])).status).toBe(201);
    // The leaver is removed from the environment by provisioning; autoOffboard is off, so their grant stays.
    const scim = await stack.token(`entra-${w.envId}`, ["Sharing.Provisioning"]);
    await expectStatus(stack, 204, "DELETE", `/api/environments/${w.envId}/scim/v2/Users/${w.id("leaver")}`, {
      token: scim,
      headers: { "content-type": "application/scim+json" },
    });
    const off = await w.audit();
    const about = (r: { findings: Finding[] }) =>
      r.findings.filter((f) => f.principalId === w.id("leaver")).map((f) => f.rule);
    expect(about(off)).toEqual(["leaverNotOffboarded"]);

    await expectStatus(stack, 200, "PUT", `/api/environments/${w.envId}`, {
      token: w.adminToken,
      body: { displayName: `Env ${w.envId}`, autoOffboard: true },
    });
    const on = await w.audit();
    expect(about(on)).toEqual(["ownerNotMember"]);
    expect(on.findings.find((f) => f.rule === "ownerNotMember")).toMatchObject({ resourceId: p, severity: "medium" });
  });
});
