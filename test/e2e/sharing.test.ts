import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resourceKinds } from "../../shared/rules/matrix.js";
import { specRows } from "../support/ruleTable.js";
import { eventually } from "../support/poll.js";
import { startStack, type Stack } from "../support/stack.js";
import { expectProblem, newWorld, uid } from "../support/world.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

type Listed = { resources: { resourceId: string; roles: string[]; via: unknown[] }[] };
type Checked = { results: { allowed: boolean; reason: string }[] };

describe("every kind × role × action of sharing-rules.md, through HTTP", () => {
  it.each(resourceKinds)("%s", async (kind) => {
    const w = await newWorld(stack);
    await w.user("owner");
    await w.user("admin", { roles: ["SystemAdministrator"] });
    const body = kind === "cloudFlow" ? { kind, triggerKind: "instant", solutionAware: true } : { kind };
    const resourceId = await w.resource("owner", body);
    const rows = specRows().filter((r) => r.kind === kind);
    const holders = [...new Set(rows.map((r) => r.holder))];
    for (const holder of holders) {
      if (holder === "owner" || holder === "admin") continue;
      await w.user(holder);
      const r = await w.share("owner", resourceId, holder, [{ type: "user", id: w.id(holder) }]);
      expect(r.status, r.text).toBe(201);
    }
    const checks = rows.map((r) => ({ principalId: w.id(r.holder), resourceId, action: r.action }));
    const res = await w.as("owner", "POST", "check", { checks });
    expect(res.status, res.text).toBe(200);
    const results = (res.json as Checked).results;
    const wrong = rows
      .filter((r, i) => results[i]?.allowed !== r.allowed)
      .map((r) => `${r.holder} ${r.action}: expected ${r.allowed}`);
    expect(wrong).toEqual([]);
    // And each holder sees the same actions on the resource itself.
    for (const holder of holders) {
      const got = await w.as(holder, "GET", `resources/${resourceId}`);
      expect(got.status, got.text).toBe(200);
      const expected = rows.filter((r) => r.holder === holder && r.allowed).map((r) => r.action);
      expect((got.json as { allowedActions: string[] }).allowedActions.sort()).toEqual(expected.sort());
    }
  });
});

describe("sharing through HTTP", () => {
  it("a viewer of a process mining process cannot share (403); a co-owner cannot edit the dataflow", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    await w.user("viewer");
    await w.user("co");
    await w.user("other");
    const p = await w.resource("maker", { kind: "processMining" });
    expect((await w.share("maker", p, "viewer", [{ type: "user", id: w.id("viewer") }])).status).toBe(201);
    expect((await w.share("maker", p, "coOwner", [{ type: "user", id: w.id("co") }])).status).toBe(201);
    const denied = expectProblem(await w.share("viewer", p, "viewer", [{ type: "user", id: w.id("other") }]), 403);
    expect(denied.detail).toContain("processMining.share");
    const co = await w.as("co", "GET", `resources/${p}/access/${w.id("co")}`);
    expect((co.json as { actions: string[] }).actions).not.toContain("processMining.editDataflow");
    expect((co.json as { actions: string[] }).actions).toContain("processMining.share");
    const check = await w.as("co", "POST", "check", {
      checks: [{ principalId: w.id("co"), resourceId: p, action: "processMining.editDataflow" }],
    });
    expect((check.json as Checked).results[0]).toMatchObject({ allowed: false });
    expect((await w.share("co", p, "viewer", [{ type: "user", id: w.id("other") }])).status).toBe(201);
  });

  it("a group member gets access through the group and loses it when removed from the group", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    await w.user("ann");
    const g = uid("grp");
    await w.group(g, ["ann"]);
    const p = await w.resource("maker", { kind: "processMining" });
    expect((await w.share("maker", p, "viewer", [{ type: "group", id: g }])).status).toBe(201);
    const access = await w.as("ann", "GET", `resources/${p}/access/${w.id("ann")}`);
    expect(access.json).toMatchObject({
      roles: ["viewer"],
      via: [{ role: "viewer", through: { type: "group", id: g } }],
    });
    // Checks are exact at once; her listing follows through the fan-out queue within seconds.
    const listing = async () =>
      ((await w.as("ann", "GET", `principals/${w.id("ann")}/resources`)).json as Listed).resources;
    expect(
      await eventually("ann's listing to show the group's resource", listing, { until: (r) => r.length === 1 }),
    ).toMatchObject([{ resourceId: p, roles: ["viewer"] }]);
    await w.group(g, []);
    expectProblem(await w.as("ann", "GET", `resources/${p}`), 404);
    await eventually("ann's listing to drop it", listing, { until: (r) => r.length === 0 });
  });

  it("removing a user's last role removes the resource from their list", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    await w.user("bob");
    const p = await w.resource("maker", { kind: "processMining" });
    const t = await w.resource("maker", { kind: "taskMining" });
    await w.share("maker", p, "viewer", [{ type: "user", id: w.id("bob") }]);
    await w.share("maker", p, "coOwner", [{ type: "user", id: w.id("bob") }]);
    await w.share("maker", t, "contributor", [{ type: "user", id: w.id("bob") }]);
    const list = async (kind?: string) =>
      ((await w.as("bob", "GET", `principals/${w.id("bob")}/resources${kind ? `?kind=${kind}` : ""}`)).json as Listed)
        .resources;
    expect((await list()).map((r) => r.resourceId).sort()).toEqual([p, t].sort());
    expect((await list("taskMining")).map((r) => r.resourceId)).toEqual([t]);
    expect((await w.as("maker", "DELETE", `resources/${p}/shares/user/${w.id("bob")}/viewer`)).status).toBe(200);
    expect((await list()).find((r) => r.resourceId === p)?.roles).toEqual(["coOwner"]);
    const revoked = await w.as("maker", "DELETE", `resources/${p}/shares/user/${w.id("bob")}/coOwner`);
    expect(revoked.json).toMatchObject({ revoked: { principalId: w.id("bob"), role: "coOwner" }, warnings: [] });
    expect((await list()).map((r) => r.resourceId)).toEqual([t]);
    expectProblem(await w.as("maker", "DELETE", `resources/${p}/shares/user/${w.id("bob")}/coOwner`), 404);
  });

  it("an admin has implicit access, and is still listed when granted a role", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    await w.user("admin", { roles: ["SystemAdministrator"] });
    const p = await w.resource("maker", { kind: "processMining" });
    const implicit = await w.as("admin", "GET", `resources/${p}/access/${w.id("admin")}`);
    expect(implicit.json).toMatchObject({ roles: [], via: [{ role: "admin", through: "admin" }] });
    expect((implicit.json as { actions: string[] }).actions).toContain("processMining.delete");
    const adminList = ((await w.as("admin", "GET", `principals/${w.id("admin")}/resources`)).json as Listed).resources;
    expect(adminList.map((r) => r.resourceId)).toContain(p);
    expect((await w.share("maker", p, "viewer", [{ type: "user", id: w.id("admin") }])).status).toBe(201);
    const shares = (await w.as("maker", "GET", `resources/${p}/shares`)).json as {
      grants: { principalId: string; role: string }[];
      creatorId: string;
    };
    expect(shares.creatorId).toBe(w.id("maker"));
    expect(shares.grants.map((g) => `${g.principalId}:${g.role}`).sort()).toEqual(
      [`${w.id("admin")}:viewer`, `${w.id("maker")}:owner`].sort(),
    );
  });

  it("an admin sees no task mining content they don't own; contributors delete their own recordings but not others'", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    await w.user("admin", { roles: ["SystemAdministrator"] });
    await w.user("c1");
    await w.user("c2");
    const t = await w.resource("maker", { kind: "taskMining", description: "secret steps" });
    const adminView = await w.as("admin", "GET", `resources/${t}`);
    expect(adminView.status).toBe(200);
    expect((adminView.json as { resource: Record<string, unknown> }).resource.description).toBeUndefined();
    expect((adminView.json as { allowedActions: string[] }).allowedActions).toEqual([
      "taskMining.share",
      "taskMining.viewSharing",
    ]);
    expectProblem(await w.as("admin", "PUT", `resources/${t}/recordings/${uid("rec")}`, {}), 403);
    expect(
      (
        await w.share("admin", t, "contributor", [
          { type: "user", id: w.id("c1") },
          { type: "user", id: w.id("c2") },
        ])
      ).status,
    ).toBe(201);
    const r1 = uid("rec");
    const r2 = uid("rec");
    expect((await w.as("c1", "PUT", `resources/${t}/recordings/${r1}`, { label: "mine" })).status).toBe(201);
    expect((await w.as("c2", "PUT", `resources/${t}/recordings/${r2}`, {})).status).toBe(201);
    expect((await w.as("c1", "PUT", `resources/${t}/recordings/${r1}`, { label: "relabelled" })).status).toBe(200);
    expectProblem(await w.as("c1", "PUT", `resources/${t}/recordings/${r2}`, { label: "not mine" }), 403);
    expectProblem(await w.as("c1", "DELETE", `resources/${t}/recordings/${r2}`), 403);
    expect((await w.as("c1", "DELETE", `resources/${t}/recordings/${r1}`)).status).toBe(204);
    expect((await w.as("maker", "DELETE", `resources/${t}/recordings/${r2}`)).status).toBe(204);
  });

  it("the flow creator cannot be removed (409); run-only on an automated flow is 422; a free license can't share a flow (422)", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    await w.user("co");
    await w.user("runner");
    await w.user("free", { license: "free" });
    const flow = await w.resource("maker", { kind: "cloudFlow", triggerKind: "automated", solutionAware: true });
    expect(
      (
        await w.share("maker", flow, "owner", [
          { type: "user", id: w.id("co") },
          { type: "user", id: w.id("free") },
        ])
      ).status,
    ).toBe(201);
    expectProblem(await w.as("co", "DELETE", `resources/${flow}/shares/user/${w.id("maker")}/owner`), 409);
    expect((await w.as("co", "DELETE", `resources/${flow}/shares/user/${w.id("co")}/owner`)).status).toBe(200);
    const runOnly = expectProblem(await w.share("maker", flow, "runOnly", [{ type: "user", id: w.id("runner") }]), 422);
    expect(runOnly.detail).toMatch(/instant/);
    const free = expectProblem(await w.share("free", flow, "owner", [{ type: "user", id: w.id("runner") }]), 422);
    expect(free.detail).toMatch(/free license/);
  });

  it("anything in another environment is 404", async () => {
    const a = await newWorld(stack);
    const b = await newWorld(stack);
    await a.user("maker");
    await b.user("stranger");
    const p = await a.resource("maker", { kind: "processMining" });
    const path = (s: string) => `/api/environments/${a.envId}/${s}`;
    const t = await b.token("stranger");
    for (const [method, url, body] of [
      ["GET", path(`resources/${p}`), undefined],
      ["GET", path(`resources/${p}/shares`), undefined],
      ["POST", path(`resources/${p}/shares`), { role: "viewer", principals: [{ type: "user", id: b.id("stranger") }] }],
      ["GET", path(`resources/${p}/access/${b.id("stranger")}`), undefined],
      [
        "POST",
        path("check"),
        { checks: [{ principalId: b.id("stranger"), resourceId: p, action: "processMining.viewDetails" }] },
      ],
      ["GET", path(`principals/${b.id("stranger")}/resources`), undefined],
      ["GET", path("directory?search=a"), undefined],
      ["DELETE", path(`resources/${p}`), undefined],
    ] as const) {
      expectProblem(await stack.api(method, url, { token: t, ...(body ? { body } : {}) }), 404);
    }
    expect((await a.as("maker", "GET", `resources/${p}`)).status).toBe(200);
  });

  it("sharing the same grant twice answers 200 and stores one grant", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    await w.user("bob");
    const p = await w.resource("maker", { kind: "processMining" });
    const first = await w.share("maker", p, "viewer", [{ type: "user", id: w.id("bob") }]);
    expect(first.status).toBe(201);
    const second = await w.share("maker", p, "viewer", [{ type: "user", id: w.id("bob") }]);
    expect(second.status).toBe(200);
    expect(second.json).toMatchObject({ grants: [{ principalId: w.id("bob"), role: "viewer" }], invitations: [] });
    const shares = (await w.as("maker", "GET", `resources/${p}/shares`)).json as { grants: { principalId: string }[] };
    expect(shares.grants.filter((g) => g.principalId === w.id("bob"))).toHaveLength(1);
  });

  it("malformed bodies, ids and tokens get 400/401 problem+json naming what was wrong", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    const p = await w.resource("maker", { kind: "processMining" });
    const token = await w.token("maker");
    const url = `/api/environments/${w.envId}/resources/${p}/shares`;
    const missing = expectProblem(await stack.api("POST", url, { token, body: { principals: [] } }), 400);
    expect(missing.errors?.map((e) => e.field)).toEqual(expect.arrayContaining(["body.role", "body.principals"]));
    const badId = expectProblem(
      await stack.api("POST", url, {
        token,
        body: { role: "viewer", principals: [{ type: "user", id: "x' or 1 eq 1" }] },
      }),
      400,
    );
    expect(badId.errors?.map((e) => e.field)).toEqual(["body.principals[0].id"]);
    const notJson = expectProblem(
      await stack.api("POST", url, { token, body: "{not json", headers: { "content-type": "application/json" } }),
      400,
    );
    expect(notJson.errors?.[0]?.field).toBe("body");
    const extra = expectProblem(
      await stack.api("POST", url, {
        token,
        body: { role: "viewer", principals: [{ type: "user", id: "a" }], admin: true },
      }),
      400,
    );
    expect(extra.errors?.length).toBeGreaterThan(0);
    const badParam = expectProblem(
      await stack.api("GET", `/api/environments/${w.envId}/resources/${encodeURIComponent("a'b")}`, { token }),
      400,
    );
    expect(badParam.errors?.[0]?.field).toBe("params.resourceId");
    const unknownUser = expectProblem(
      await stack.api("POST", url, {
        token,
        body: { role: "viewer", principals: [{ type: "user", id: uid("ghost") }] },
      }),
      400,
    );
    expect(unknownUser.errors?.[0]?.field).toBe("body.principals[0].id");
    const wrongRole = expectProblem(
      await stack.api("POST", url, {
        token,
        body: { role: "runOnly", principals: [{ type: "user", id: w.id("maker") }] },
      }),
      400,
    );
    expect(wrongRole.errors?.[0]?.field).toBe("body.role");
    expectProblem(await stack.api("GET", `/api/environments/${w.envId}/resources/${p}`), 401);
    expectProblem(await stack.api("GET", `/api/environments/${w.envId}/resources/${p}`, { token: "x.y.z" }), 401);
    expectProblem(
      await stack.api("GET", `/api/environments/${w.envId}/resources/${p}`, { token: `${token.slice(0, -2)}AA` }),
      401,
    );
    const unknownAction = expectProblem(
      await stack.api("POST", `/api/environments/${w.envId}/check`, {
        token,
        body: { checks: [{ principalId: w.id("maker"), resourceId: p, action: "processMining.fly" }] },
      }),
      400,
    );
    expect(unknownAction.errors?.[0]?.field).toBe("body.checks[0].action");
  });

  it("serves the action matrix, the OpenAPI document and health", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    const actions = await w.as("maker", "GET", "/api/actions");
    expect(actions.status).toBe(200);
    const kinds = (actions.json as { kinds: { kind: string; actions: { action: string; allowedFor: string[] }[] }[] })
      .kinds;
    expect(
      kinds.find((k) => k.kind === "processMining")?.actions.find((a) => a.action === "processMining.share")
        ?.allowedFor,
    ).toEqual(["owner", "coOwner", "admin"]);
    const openapi = await stack.api("GET", "/api/openapi.json");
    expect(openapi.status).toBe(200);
    const doc = openapi.json as { openapi: string; paths: Record<string, Record<string, { requestBody?: unknown }>> };
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.paths["/api/environments/{envId}/resources/{resourceId}/shares"]?.post?.requestBody).toBeDefined();
    expect((await stack.api("GET", "/api/health")).json).toEqual({ status: "ok" });
  });
});
