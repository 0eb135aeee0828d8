import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../support/stack.js";
import { expectProblem, newWorld } from "../support/world.js";

interface ResourceAnswer {
  view?: string;
  resource: Record<string, unknown>;
  roles: string[];
  allowedActions: string[];
  via: unknown[];
}

/**
 * Issue 12, item 5, through HTTP on the local host: a flow's run-only users (seed 004: they "cannot
 * view the flow") get from GET resource its name, trigger and the connections they must supply, and
 * nothing else; the shares listing and every other route that shows the flow's grants refuse them;
 * owners and admins see what they saw before.
 */
describe("run-only users see only what they may run, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  async function world() {
    const w = await newWorld(stack);
    await w.user("admin", { roles: ["SystemAdministrator"] });
    const maker = await w.user("maker");
    const co = await w.user("co");
    const runner = await w.user("runner", { roles: ["BasicUser"] });
    await w.user("teamRunner", { roles: ["BasicUser"] });
    await w.group("runners", ["teamRunner"]);
    const flow = await w.resource("maker", {
      kind: "cloudFlow",
      description: "routes expenses to the finance mailbox",
      solutionAware: true,
      triggerKind: "instant",
      connections: [
        { id: "outlook", connector: "Office 365 Outlook", ownerId: maker, usage: "embedded" },
        { id: "teams", connector: "Teams", ownerId: co, usage: "embedded" },
        { id: "old", connector: "Excel", ownerId: maker, usage: "other" },
      ],
    });
    expect((await w.share("maker", flow, "owner", [{ type: "user", id: co }])).status).toBe(201);
    // The runner is invited (so the flow has an invitation) and supplies Teams; the group supplies both.
    expect(
      (
        await w.share("maker", flow, "runOnly", [{ type: "user", id: runner }], {
          sendInvitation: true,
          connectionChoices: { teams: "invoker" },
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await w.share("maker", flow, "runOnly", [{ type: "group", id: "runners" }], {
          connectionChoices: { outlook: "invoker", teams: "invoker" },
        })
      ).status,
    ).toBe(201);
    return { w, flow };
  }

  it("a direct run-only user gets the run-only view: each allowed field present, every other absent", async () => {
    const { w, flow } = await world();
    const got = await w.as("runner", "GET", `resources/${flow}`);
    expect(got.status, got.text).toBe(200);
    const body = got.json as ResourceAnswer;
    expect(Object.keys(body).sort()).toEqual(["allowedActions", "resource", "roles", "via", "view"]);
    expect(body.view).toBe("runOnly");
    expect(body.roles).toEqual(["runOnly"]);
    expect(body.allowedActions).toEqual(["cloudFlow.run"]);
    expect(body.via).toEqual([{ role: "runOnly", through: "direct" }]);
    const r = body.resource;
    expect(Object.keys(r).sort()).toEqual(
      ["connectionsToProvide", "displayName", "envId", "kind", "resourceId", "triggerKind"].sort(),
    );
    expect(r.envId).toBe(w.envId);
    expect(r.resourceId).toBe(flow);
    expect(r.kind).toBe("cloudFlow");
    expect(r.displayName).toBe(`Resource ${flow}`);
    expect(r.triggerKind).toBe("instant");
    // Only the connection "provided by run-only user" in their grant; the embedded one and the unused one aren't theirs.
    expect(r.connectionsToProvide).toEqual([{ id: "teams", connector: "Teams" }]);
    // No owners, creator, connections of others, content, grants, invitations or run history.
    for (const absent of [
      "ownerId",
      "creatorId",
      "connections",
      "description",
      "solutionAware",
      "grants",
      "invitations",
      "runHistory",
      "createdAt",
      "updatedAt",
    ])
      expect(r, absent).not.toHaveProperty(absent);
    for (const id of [w.id("maker"), w.id("co")]) expect(got.text).not.toContain(id);
  });

  it("a run-only user through a group gets the view with the group's connection choices", async () => {
    const { w, flow } = await world();
    const got = await w.as("teamRunner", "GET", `resources/${flow}`);
    expect(got.status, got.text).toBe(200);
    const body = got.json as ResourceAnswer;
    expect(body.view).toBe("runOnly");
    expect(body.via).toEqual([{ role: "runOnly", through: { type: "group", id: "runners" } }]);
    expect(body.resource.connectionsToProvide).toEqual([
      { id: "outlook", connector: "Office 365 Outlook" },
      { id: "teams", connector: "Teams" },
    ]);
    expect(body.resource).not.toHaveProperty("ownerId");
    expect(body.resource).not.toHaveProperty("connections");
  });

  it("run-only users get 403 from the shares listing and from the other routes that show grants", async () => {
    const { w, flow } = await world();
    for (const name of ["runner", "teamRunner"]) {
      const shares = await w.as(name, "GET", `resources/${flow}/shares`);
      expect(expectProblem(shares, 403).detail).toMatch(/cloudFlow\.viewSharing is not allowed for runOnly/);
      expectProblem(await w.as(name, "GET", `resources/${flow}/access/${w.id("maker")}`), 403);
      expectProblem(await w.as(name, "GET", `changes?resourceId=${flow}`), 403);
      const checked = await w.as(name, "POST", "check", {
        checks: [{ principalId: w.id("co"), resourceId: flow, action: "cloudFlow.editDefinition" }],
      });
      expect(checked.status, checked.text).toBe(200);
      expect((checked.json as { results: { allowed: boolean }[] }).results[0]!.allowed).toBe(false);
    }
    // Their own access stays theirs to read, with their own connection choices.
    const own = await w.as("runner", "GET", `resources/${flow}/access/${w.id("runner")}`);
    expect(own.status, own.text).toBe(200);
    expect(own.json).toMatchObject({ roles: ["runOnly"], connectionChoices: { teams: "invoker" } });
    // Their listing names the flow and their role, nothing more.
    const listed = await w.as("runner", "GET", `principals/${w.id("runner")}/resources`);
    expect(listed.status, listed.text).toBe(200);
    const item = (listed.json as { resources: Record<string, unknown>[] }).resources.find((x) => x.resourceId === flow);
    expect(Object.keys(item!).sort()).toEqual(["displayName", "kind", "resourceId", "roles", "via"]);
  });

  it("owners and admins still see everything", async () => {
    const { w, flow } = await world();
    for (const name of ["maker", "co"]) {
      const got = await w.as(name, "GET", `resources/${flow}`);
      expect(got.status, got.text).toBe(200);
      const body = got.json as ResourceAnswer;
      expect(body).not.toHaveProperty("view");
      expect(body.resource).toMatchObject({
        ownerId: w.id("maker"),
        creatorId: w.id("maker"),
        description: "routes expenses to the finance mailbox",
      });
      expect((body.resource.connections as unknown[]).length).toBe(3);
      expect(body.allowedActions).toContain("cloudFlow.viewSharing");
      const shares = await w.as(name, "GET", `resources/${flow}/shares`);
      expect(shares.status, shares.text).toBe(200);
      const s = shares.json as { grants: { principalId: string; role: string }[]; invitations: unknown[] };
      expect(s.grants.map((g) => `${g.principalId}:${g.role}`)).toEqual(
        expect.arrayContaining([`${w.id("runner")}:runOnly`, "runners:runOnly", `${w.id("co")}:owner`]),
      );
      expect(s.invitations.length).toBeGreaterThanOrEqual(1);
    }
    // Flow admins see the summary as before (owner and creator) and the shares listing.
    const admin = await w.as("admin", "GET", `resources/${flow}`);
    expect(admin.status, admin.text).toBe(200);
    const a = admin.json as ResourceAnswer;
    expect(a).not.toHaveProperty("view");
    expect(a.resource).toMatchObject({ ownerId: w.id("maker"), creatorId: w.id("maker") });
    expect(a.allowedActions).toEqual([
      "cloudFlow.manageOwners",
      "cloudFlow.manageRunOnlyUsers",
      "cloudFlow.viewSharing",
    ]);
    expect((await w.as("admin", "GET", `resources/${flow}/shares`)).status).toBe(200);
  });

  it("a run-only user made owner sees the whole flow and its shares", async () => {
    const { w, flow } = await world();
    expect((await w.share("maker", flow, "owner", [{ type: "user", id: w.id("runner") }])).status).toBe(201);
    const got = await w.as("runner", "GET", `resources/${flow}`);
    expect(got.status, got.text).toBe(200);
    expect(got.json).not.toHaveProperty("view");
    expect((got.json as ResourceAnswer).resource).toMatchObject({ ownerId: w.id("maker") });
    expect((await w.as("runner", "GET", `resources/${flow}/shares`)).status).toBe(200);
  });

  it("the rules table and the OpenAPI document tell clients", async () => {
    const { w } = await world();
    const actions = await w.as("maker", "GET", "/api/actions");
    expect(actions.status, actions.text).toBe(200);
    const flowKind = (
      actions.json as { kinds: { kind: string; actions: { action: string; allowedFor: string[] }[] }[] }
    ).kinds.find((k) => k.kind === "cloudFlow")!;
    const viewSharing = flowKind.actions.find((a) => a.action === "cloudFlow.viewSharing");
    expect(viewSharing?.allowedFor.sort()).toEqual(["admin", "owner"]);
    const doc = await stack.api("GET", "/api/openapi.json", {});
    expect(doc.status).toBe(200);
    const op = (doc.json as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }).paths[
      "/api/environments/{envId}/resources/{resourceId}"
    ]!.get!;
    const schema = (op.responses["200"] as { content: Record<string, { schema: { oneOf?: unknown[] } }> }).content[
      "application/json"
    ]!.schema;
    expect(schema.oneOf).toHaveLength(2);
    expect(JSON.stringify(schema.oneOf![1])).toContain('"const":"runOnly"');
  });
});
