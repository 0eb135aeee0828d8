import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mailTo, waitForSubject } from "../support/mail.js";
import { startStack, type Stack } from "../support/stack.js";
import { newWorld, uid, type EnvironmentSpec } from "../support/world.js";

interface Shares {
  ownerId: string;
  creatorId: string;
  grants: { principalId: string; role: string }[];
}
interface Connection {
  id: string;
  connector: string;
  ownerId: string;
  usage: "embedded" | "other";
}
interface LogItem {
  action: string;
  actorId: string;
  resourceId?: string;
  principal?: { type: string; id: string };
  detail: string;
}

/**
 * Seed 004's remaining flow rules through HTTP on the local host: changing a solution-aware flow's
 * owner in place (`PUT .../owner`), connections a flow stops using staying as `other`, and an owner
 * taking over a connection whose creator is no longer an enabled owner (`PUT .../connections/{id}`).
 */
describe("owner change and connections over a flow's life, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  async function world(env: EnvironmentSpec = {}) {
    const w = await newWorld(stack, env);
    const admin = await w.user("admin", { roles: ["SystemAdministrator"] });
    const maker = await w.user("maker");
    const co = await w.user("co");
    const heir = await w.user("heir");
    const basic = await w.user("basic", { roles: ["BasicUser"] });
    const guest = await w.user("guest", { userType: "guest" });
    const runner = await w.user("runner", { roles: ["BasicUser"] });
    await w.user("outsider", { roles: null });
    const connections: Connection[] = [
      { id: "outlook", connector: "Office 365 Outlook", ownerId: maker, usage: "embedded" },
      { id: "teams", connector: "Teams", ownerId: co, usage: "embedded" },
    ];
    const flowBody = (solutionAware = true) => ({
      kind: "cloudFlow",
      solutionAware,
      triggerKind: "instant",
      connections,
    });
    const flow = await w.resource("maker", flowBody());
    expect((await w.share("maker", flow, "owner", [{ type: "user", id: co }])).status).toBe(201);
    expect((await w.share("maker", flow, "runOnly", [{ type: "user", id: runner }])).status).toBe(201);
    const shares = async (r: string) => (await w.as("admin", "GET", `resources/${r}/shares`)).json as Shares;
    const owners = async (r: string) => {
      const s = await shares(r);
      return {
        ownerId: s.ownerId,
        owners: s.grants
          .filter((g) => g.role === "owner")
          .map((g) => g.principalId)
          .sort(),
      };
    };
    const log = async (resourceId: string, action: string) =>
      ((await w.as("admin", "GET", `changes?resourceId=${resourceId}`)).json as { items: LogItem[] }).items.filter(
        (i) => i.action === action,
      );
    const connectionsOf = async (r: string) =>
      ((await w.as("maker", "GET", `resources/${r}`)).json as { resource: { connections: Connection[] } }).resource
        .connections;
    return {
      ...w,
      admin,
      maker,
      co,
      heir,
      basic,
      guest,
      runner,
      connections,
      flowBody,
      flow,
      shares,
      owners,
      log,
      connectionsOf,
    };
  }

  const sorted = (...ids: string[]) => [...ids].sort();

  it("lists both routes in the OpenAPI document with their body and response schemas", async () => {
    const doc = (await stack.api("GET", "/api/openapi.json")).json as {
      paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>>;
    };
    for (const path of [
      "/environments/{envId}/resources/{resourceId}/owner",
      "/environments/{envId}/resources/{resourceId}/connections/{connectionId}",
    ]) {
      const op = (doc.paths[path] ?? doc.paths[`/api${path}`])?.put;
      expect(op, path).toBeDefined();
      expect(op!.requestBody, path).toBeDefined();
      expect(op!.responses["200"], path).toMatchObject({
        content: { "application/json": { schema: expect.anything() } },
      });
    }
  });

  it("lets an owner make another maker primary owner of a solution-aware flow; the previous owner stays an owner", async () => {
    const w = await world();
    const r = await w.as("co", "PUT", `resources/${w.flow}/owner`, { ownerId: w.heir });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      resource: { resourceId: w.flow, ownerId: w.heir, creatorId: w.maker },
      previousOwnerId: w.maker,
      previousOwnerKept: true,
    });
    expect(await w.owners(w.flow)).toEqual({ ownerId: w.heir, owners: sorted(w.maker, w.co, w.heir) });

    // Index and catalog rows followed: the heir lists it, and the environment's listing names them owner.
    const mine = await w.as("heir", "GET", `principals/${w.heir}/resources`);
    expect((mine.json as { resources: { resourceId: string; roles: string[] }[] }).resources).toEqual([
      expect.objectContaining({ resourceId: w.flow, roles: ["owner"] }),
    ]);
    const byOwner = await w.as("admin", "GET", `resources?ownerId=${w.heir}`);
    expect((byOwner.json as { items: { resourceId: string }[] }).items.map((i) => i.resourceId)).toEqual([w.flow]);
    const heirAccess = await w.as("heir", "GET", `resources/${w.flow}/access/${w.heir}`);
    expect((heirAccess.json as { actions: string[] }).actions).toContain("cloudFlow.editDefinition");

    const [entry, ...more] = await w.log(w.flow, "owner.changed");
    expect(more).toEqual([]);
    expect(entry).toMatchObject({ actorId: w.co, principal: { type: "user", id: w.heir } });
    expect(entry!.detail).toContain(`from ${w.maker} to ${w.heir}`);
    expect(entry!.detail).toContain(`${w.maker} stays an owner`);

    // Asking again changes nothing more.
    expect((await w.as("co", "PUT", `resources/${w.flow}/owner`, { ownerId: w.heir })).status).toBe(200);
    expect(await w.log(w.flow, "owner.changed")).toHaveLength(1);
  });

  it("lets an admin change it without keeping the previous owner, but never removes the creator (409)", async () => {
    const w = await world();
    const creatorOut = await w.as("admin", "PUT", `resources/${w.flow}/owner`, {
      ownerId: w.heir,
      keepPreviousOwner: false,
    });
    expect(creatorOut.status).toBe(409);
    expect(creatorOut.json).toMatchObject({ detail: expect.stringMatching(/creator of a flow can never be removed/) });
    expect(await w.owners(w.flow)).toEqual({ ownerId: w.maker, owners: sorted(w.maker, w.co) });

    expect((await w.as("admin", "PUT", `resources/${w.flow}/owner`, { ownerId: w.heir })).status).toBe(200);
    const r = await w.as("admin", "PUT", `resources/${w.flow}/owner`, { ownerId: w.co, keepPreviousOwner: false });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ previousOwnerId: w.heir, previousOwnerKept: false, resource: { ownerId: w.co } });
    expect(await w.owners(w.flow)).toEqual({ ownerId: w.co, owners: sorted(w.maker, w.co) });
    const heirs = await w.as("heir", "GET", `principals/${w.heir}/resources`);
    expect((heirs.json as { resources: unknown[] }).resources).toEqual([]);
    const entries = await w.log(w.flow, "owner.changed");
    expect(entries.map((e) => e.actorId)).toEqual([w.admin, w.admin]);
    expect(entries[0]!.detail).toContain(`from ${w.heir} to ${w.co}; ${w.heir} is no longer an owner`);

    // Sharing.Admin apps may too; a stale If-Match is 409 and changes nothing.
    const url = `/api/environments/${w.envId}/resources/${w.flow}/owner`;
    const stale = await stack.api("PUT", url, {
      token: w.adminToken,
      body: { ownerId: w.heir },
      headers: { "if-match": 'W/"stale"' },
    });
    expect(stale.status).toBe(409);
    expect((await w.owners(w.flow)).ownerId).toBe(w.co);
    const app = await stack.api("PUT", url, { token: w.adminToken, body: { ownerId: w.heir } });
    expect(app.status).toBe(200);
    expect(await w.owners(w.flow)).toEqual({ ownerId: w.heir, owners: sorted(w.maker, w.co, w.heir) });
  });

  it("answers 422 for a non-solution-aware flow, saying a copy is the way, and for a target without a maker role", async () => {
    const w = await world();
    const plain = await w.resource("maker", w.flowBody(false));
    const copy = await w.as("maker", "PUT", `resources/${plain}/owner`, { ownerId: w.heir });
    expect(copy.status).toBe(422);
    expect(copy.json).toMatchObject({ detail: expect.stringMatching(/not solution-aware.*send a copy/) });

    const basic = await w.as("maker", "PUT", `resources/${w.flow}/owner`, { ownerId: w.basic });
    expect(basic.status).toBe(422);
    expect(basic.json).toMatchObject({ detail: expect.stringMatching(/BasicUser.*EnvironmentMaker/) });
    const guest = await w.as("maker", "PUT", `resources/${w.flow}/owner`, { ownerId: w.guest });
    expect(guest.status).toBe(422);
    expect(guest.json).toMatchObject({ detail: expect.stringMatching(/guest/) });
    await w.updateUser("heir", { enabled: false });
    const disabled = await w.as("maker", "PUT", `resources/${w.flow}/owner`, { ownerId: w.heir });
    expect(disabled.status).toBe(422);
    expect(disabled.json).toMatchObject({ detail: expect.stringMatching(/disabled/) });
    const outsider = await w.as("maker", "PUT", `resources/${w.flow}/owner`, { ownerId: w.id("outsider") });
    expect(outsider.status).toBe(422);
    expect(outsider.json).toMatchObject({ detail: expect.stringMatching(/not a member/) });

    const unknown = await w.as("maker", "PUT", `resources/${w.flow}/owner`, { ownerId: uid("nobody") });
    expect(unknown.status).toBe(400);
    expect(unknown.json).toMatchObject({ errors: [expect.objectContaining({ field: "body.ownerId" })] });
    const extra = await w.as("maker", "PUT", `resources/${w.flow}/owner`, { ownerId: w.co, also: 1 });
    expect(extra.status).toBe(400);
    expect(await w.owners(w.flow)).toEqual({ ownerId: w.maker, owners: sorted(w.maker, w.co) });
  });

  it("refuses run-only users and viewers (403) and outsiders (404)", async () => {
    const w = await world();
    const runner = await w.as("runner", "PUT", `resources/${w.flow}/owner`, { ownerId: w.heir });
    expect(runner.status).toBe(403);
    expect(await w.as("heir", "PUT", `resources/${w.flow}/owner`, { ownerId: w.heir })).toMatchObject({
      status: 404,
    });
    expect(await w.as("outsider", "PUT", `resources/${w.flow}/owner`, { ownerId: w.heir })).toMatchObject({
      status: 404,
    });

    const process = await w.resource("maker", { kind: "processMining" });
    expect((await w.share("maker", process, "viewer", [{ type: "user", id: w.basic }])).status).toBe(201);
    expect((await w.share("maker", process, "coOwner", [{ type: "user", id: w.co }])).status).toBe(201);
    expect((await w.as("basic", "PUT", `resources/${process}/owner`, { ownerId: w.heir })).status).toBe(403);
    const coOwner = await w.as("co", "PUT", `resources/${process}/owner`, { ownerId: w.heir });
    expect(coOwner.status).toBe(403);
    expect(coOwner.json).toMatchObject({ detail: expect.stringMatching(/owners and the environment's admins/) });
    expect(await w.owners(w.flow)).toEqual({ ownerId: w.maker, owners: sorted(w.maker, w.co) });
  });

  it("moves a process in place, keeping the previous owner as co-owner, and alerts a sensitive environment's admins", async () => {
    const w = await world({ sensitive: true });
    const process = await w.resource("maker", { kind: "processMining" });
    expect((await w.share("maker", process, "coOwner", [{ type: "user", id: w.heir }])).status).toBe(201);
    const r = await w.as("maker", "PUT", `resources/${process}/owner`, { ownerId: w.heir });
    expect(r.status).toBe(200);
    const s = await w.shares(process);
    expect(s.ownerId).toBe(w.heir);
    expect(s.grants.map((g) => `${g.principalId}:${g.role}`).sort()).toEqual(
      [`${w.heir}:owner`, `${w.maker}:coOwner`].sort(),
    );
    const alert = await waitForSubject(stack, w.email("admin"), /was made an owner of the process/);
    expect(alert.subject).toContain(w.person("heir").email);
    await waitForSubject(stack, w.email("admin"), /was made a co-owner of the process/);
    // One alert for the co-owner share, one for the owner change; the previous owner kept as co-owner is no new owner.
    expect(mailTo(stack, w.email("admin")).filter((m) => /of the process/.test(m.subject))).toHaveLength(2);
  });

  it("keeps a connection the flow stops using as other, and makes it embedded again when it is listed", async () => {
    const w = await world();
    const [outlook, teams] = w.connections;
    const put = (who: string, connections: Connection[]) =>
      w.as(who, "PUT", `resources/${w.flow}`, {
        ...w.flowBody(),
        creatorId: w.maker,
        displayName: "Approvals",
        connections,
      });
    expect((await put("maker", [outlook!])).status).toBe(200);
    expect(await w.connectionsOf(w.flow)).toEqual([outlook, { ...teams, usage: "other" }]);
    expect((await put("co", [outlook!, teams!])).status).toBe(200);
    expect(await w.connectionsOf(w.flow)).toEqual([outlook, teams]);
    // Not listing connections at all leaves them as they are.
    const { connections: _, ...withoutList } = { ...w.flowBody(), creatorId: w.maker, displayName: "Renamed" };
    expect((await w.as("maker", "PUT", `resources/${w.flow}`, withoutList)).status).toBe(200);
    expect(await w.connectionsOf(w.flow)).toEqual([outlook, teams]);
    // The ones kept as other count toward a flow's 100: 99 new ones and the 2 it stops using are too many.
    const many = Array.from({ length: 99 }, (_, i) => ({
      id: `c${i}`,
      connector: "Excel",
      ownerId: w.maker,
      usage: "embedded" as const,
    }));
    const tooMany = await put("maker", many);
    expect(tooMany.status).toBe(422);
    expect(tooMany.json).toMatchObject({ detail: expect.stringMatching(/101 connections.*"other"/) });
    expect(await w.connectionsOf(w.flow)).toEqual([outlook, teams]);
    expect((await put("maker", [outlook!, teams!, ...many.slice(0, 98)])).status).toBe(200);
  });

  it("lets an owner take over a connection only once its creator is no longer an enabled owner; the revoke's warning names the route", async () => {
    const w = await world();
    const route = `/api/environments/${w.envId}/resources/${w.flow}/connections/teams`;
    const early = await w.as("maker", "PUT", route, { ownerId: w.maker });
    expect(early.status).toBe(403);
    expect(early.json).toMatchObject({ detail: expect.stringMatching(/still an enabled owner/) });
    expect((await w.as("maker", "PUT", `resources/${w.flow}/connections/nope`, { ownerId: w.maker })).status).toBe(404);
    expect((await w.as("runner", "PUT", route, { ownerId: w.runner })).status).toBe(403);

    const revoked = await w.as("maker", "DELETE", `resources/${w.flow}/shares/user/${w.co}/owner`);
    expect(revoked.status).toBe(200);
    const body = revoked.json as {
      warnings: string[];
      connectionsToFix: { connectionId: string; resolveWith: string }[];
    };
    expect(body.warnings).toEqual([expect.stringContaining(`PUT ${route}`)]);
    expect(body.connectionsToFix).toEqual([
      expect.objectContaining({ connectionId: "teams", ownerId: w.co, resolveWith: `PUT ${route}` }),
    ]);

    expect((await w.as("maker", "PUT", route, { ownerId: w.heir })).status).toBe(403);
    const taken = await w.as("maker", "PUT", route, { ownerId: w.maker });
    expect(taken.status).toBe(200);
    expect(taken.json).toMatchObject({
      connection: { id: "teams", connector: "Teams", ownerId: w.maker, usage: "embedded" },
      previousOwnerId: w.co,
    });
    expect((await w.connectionsOf(w.flow)).find((c) => c.id === "teams")).toMatchObject({ ownerId: w.maker });
    const [entry] = await w.log(w.flow, "connection.takenOver");
    expect(entry).toMatchObject({ actorId: w.maker, principal: { type: "user", id: w.maker } });
    expect(entry!.detail).toContain(`in place of ${w.co}`);
  });

  it("lets an owner take over the connection of a creator who was disabled, and names the route in reassignment answers", async () => {
    const w = await world();
    const route = `/api/environments/${w.envId}/resources/${w.flow}/connections/teams`;
    const dry = await w.as("admin", "POST", "reassignments", { fromUserId: w.co, toUserId: w.heir, dryRun: true });
    expect(dry.status).toBe(200);
    expect((dry.json as { connectionsToFix: unknown[] }).connectionsToFix).toEqual([
      expect.objectContaining({ resourceId: w.flow, connectionId: "teams", resolveWith: `PUT ${route}` }),
    ]);
    await w.updateUser("co", { enabled: false });
    const taken = await w.as("maker", "PUT", route, { ownerId: w.maker });
    expect(taken.status).toBe(200);
    expect(taken.json).toMatchObject({ connection: { ownerId: w.maker }, previousOwnerId: w.co });
  });
});
