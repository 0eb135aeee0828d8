/**
 * Custom security roles through HTTP on the local host (sharing-rules.md, "Custom security roles";
 * api.md, "The seeds' remaining rules"): a member holding a role with `share` on process mining
 * shares and revokes any process of the environment, and nothing else; taking the role away, or the
 * privilege off the role, counts on the very next request.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../support/stack.js";
import { expectProblem, newWorld, uid, type World } from "../support/world.js";

/** Sets a membership's roles, custom ones included (the world's helper knows only the built-in ones). */
async function setRoles(w: World, name: string, securityRoles: string[]) {
  return w.stack.api("PUT", `/api/environments/${w.envId}/users/${w.id(name)}`, {
    token: w.adminToken,
    body: { securityRoles },
  });
}

/**
 * An admin, a maker who owns a process, a task mining process and a flow, a member `pex` (BasicUser)
 * holding the custom role `roleId` with `share` on process mining, and a `target` to share with.
 */
async function rolesWorld(stack: Stack) {
  const w = await newWorld(stack);
  await w.user("admin", { roles: ["SystemAdministrator"] });
  await w.user("maker");
  await w.user("pex", { roles: ["BasicUser"] });
  await w.user("target", { roles: ["BasicUser"] });
  const roleId = uid("pex");
  const put = await w.as("admin", "PUT", `securityRoles/${roleId}`, {
    displayName: "Process excellence",
    privileges: { processMining: ["share"] },
  });
  expect(put.status, put.text).toBe(201);
  const assigned = await setRoles(w, "pex", ["BasicUser", roleId]);
  expect(assigned.status, assigned.text).toBe(200);
  const process = await w.resource("maker", { kind: "processMining", displayName: "Invoices" });
  return { w, roleId, process };
}

describe("custom security roles, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("are put by environment admins, read back one by one and page by page, and refused to others", async () => {
    const { w, roleId } = await rolesWorld(stack);
    const again = await w.as("admin", "PUT", `securityRoles/${roleId}`, {
      displayName: "Process excellence team",
      privileges: { processMining: ["share"], cloudFlow: ["share"] },
    });
    expect(again.status, again.text).toBe(200);
    const expected = {
      envId: w.envId,
      roleId,
      displayName: "Process excellence team",
      privileges: { processMining: ["share"], cloudFlow: ["share"] },
    };
    expect(again.json).toEqual(expected);

    const one = await w.as("pex", "GET", `securityRoles/${roleId}`);
    expect(one.status, one.text).toBe(200);
    expect(one.json).toEqual(expected);

    const second = uid("auditors");
    expect(
      (await w.as("admin", "PUT", `securityRoles/${second}`, { displayName: "Auditors", privileges: {} })).status,
    ).toBe(201);
    const first = await w.as("maker", "GET", "securityRoles?top=1");
    expect(first.status, first.text).toBe(200);
    const page1 = first.json as { items: { roleId: string }[]; continuationToken?: string };
    expect(page1.items).toHaveLength(1);
    expect(page1.continuationToken).toEqual(expect.any(String));
    const rest = await w.as("maker", "GET", `securityRoles?top=1&continuationToken=${page1.continuationToken}`);
    const page2 = rest.json as { items: { roleId: string }[]; continuationToken?: string };
    expect([...page1.items, ...page2.items].map((r) => r.roleId).sort()).toEqual([roleId, second].sort());

    // A member who is not an admin may read but not write.
    const byMaker = await w.as("maker", "PUT", `securityRoles/${uid("mine")}`, { displayName: "Mine", privileges: {} });
    expect(expectProblem(byMaker, 403).detail).toMatch(/SystemAdministrator role/);
    // An outsider can't tell the environment exists.
    const outside = await newWorld(stack);
    await outside.user("stranger");
    const strangerPut = await outside.as("stranger", "PUT", `/api/environments/${w.envId}/securityRoles/${uid("x")}`, {
      displayName: "X",
      privileges: {},
    });
    expectProblem(strangerPut, 404);
    expectProblem(await outside.as("stranger", "GET", `/api/environments/${w.envId}/securityRoles`), 404);
    expectProblem(await w.as("admin", "GET", `securityRoles/${uid("none")}`), 404);
  });

  it("refuses a built-in role's name, an unknown kind or privilege, and an unknown role in a membership", async () => {
    const { w, roleId } = await rolesWorld(stack);
    const builtIn = await w.as("admin", "PUT", "securityRoles/systemAdministrator", {
      displayName: "Fake",
      privileges: {},
    });
    expect(expectProblem(builtIn, 400).errors?.map((e) => e.field)).toContain("params.roleId");
    const badPrivilege = await w.as("admin", "PUT", `securityRoles/${uid("r")}`, {
      displayName: "Bad",
      privileges: { processMining: ["delete"], copies: ["share"] },
    });
    const fields = expectProblem(badPrivilege, 400).errors?.map((e) => e.field) ?? [];
    expect(fields.some((f) => f.startsWith("body.privileges"))).toBe(true);

    const unknown = uid("unknown");
    const membership = await setRoles(w, "target", ["BasicUser", roleId, unknown]);
    const problem = expectProblem(membership, 400);
    expect(problem.errors).toEqual([{ field: "body.securityRoles[2]", message: expect.stringContaining(unknown) }]);
    // Nothing was written: the target still holds only BasicUser.
    const users = await w.stack.api("GET", `/api/environments/${w.envId}/users?top=100`, { token: w.adminToken });
    const target = (users.json as { items: { userId: string; securityRoles: string[] }[] }).items.find(
      (m) => m.userId === w.id("target"),
    );
    expect(target?.securityRoles).toEqual(["BasicUser"]);
  });

  it("let a holder of share on process mining share and revoke any process, and nothing else", async () => {
    const { w, roleId, process } = await rolesWorld(stack);
    // A co-owner the maker granted: the holder revokes grants it did not make.
    await w.user("colleague", { roles: ["BasicUser"] });
    expect((await w.share("maker", process, "coOwner", [{ type: "user", id: w.id("colleague") }])).status).toBe(201);

    const seen = await w.as("pex", "GET", `resources/${process}`);
    expect(seen.status, seen.text).toBe(200);
    const view = seen.json as { allowedActions: string[]; via: unknown[]; resource: { displayName?: string } };
    expect(view.allowedActions).toEqual([
      "processMining.viewDetails",
      "processMining.share",
      "processMining.viewSharing",
    ]);
    expect(view.via).toEqual([{ role: "securityRole.share", through: { type: "securityRole", id: roleId } }]);
    expect(view.resource.displayName).toBe("Invoices");

    const shared = await w.share("pex", process, "viewer", [{ type: "user", id: w.id("target") }]);
    expect(shared.status, shared.text).toBe(201);
    const revoked = await w.as("pex", "DELETE", `resources/${process}/shares/user/${w.id("colleague")}/coOwner`);
    expect(revoked.status, revoked.text).toBe(200);
    const grants = await w.as("pex", "GET", `resources/${process}/shares`);
    expect(grants.status, grants.text).toBe(200);
    expect(
      (grants.json as { grants: { principalId: string; role: string }[] }).grants.map((g) => [g.principalId, g.role]),
    ).toEqual(expect.arrayContaining([[w.id("target"), "viewer"]]));
    expect(JSON.stringify(grants.json)).not.toContain(w.id("colleague"));

    // None of the process's other actions, nor an owner's role to give.
    expectProblem(await w.as("pex", "DELETE", `resources/${process}`), 403);
    const owner = await w.share("pex", process, "owner", [{ type: "user", id: w.id("target") }]);
    expectProblem(owner, 400);

    // Other kinds: the privilege doesn't reach them (403 where pex holds a role, 404 where nothing).
    const task = await w.resource("maker", { kind: "taskMining", displayName: "Claims" });
    const flow = await w.resource("maker", { kind: "cloudFlow", triggerKind: "instant", solutionAware: true });
    expect((await w.share("maker", task, "contributor", [{ type: "user", id: w.id("pex") }])).status).toBe(201);
    expect((await w.share("maker", flow, "runOnly", [{ type: "user", id: w.id("pex") }])).status).toBe(201);
    const onTask = await w.share("pex", task, "contributor", [{ type: "user", id: w.id("target") }]);
    expect(expectProblem(onTask, 403).detail).toMatch(/taskMining\.share is not allowed/);
    const onFlow = await w.share("pex", flow, "runOnly", [{ type: "user", id: w.id("target") }]);
    expect(expectProblem(onFlow, 403).detail).toMatch(/cloudFlow\.manageRunOnlyUsers is not allowed/);
    const hidden = await w.resource("maker", { kind: "cloudFlow", triggerKind: "instant", solutionAware: true });
    expectProblem(await w.share("pex", hidden, "owner", [{ type: "user", id: w.id("target") }]), 404);

    // No admin powers: reassignments, audits, the directory, the environment's change log.
    const reassign = await w.as("pex", "POST", "reassignments", {
      fromUserId: w.id("maker"),
      toUserId: w.id("target"),
    });
    expectProblem(reassign, 403);
    expectProblem(await w.as("pex", "POST", "audits"), 403);
    expectProblem(await w.as("pex", "GET", "changes"), 403);
    expectProblem(await w.as("pex", "PUT", `users/${w.id("target")}`, { securityRoles: [roleId] }), 403);
  });

  it("stops at once when the role leaves the membership, or the privilege leaves the role", async () => {
    const { w, roleId, process } = await rolesWorld(stack);
    // pex views the process, so what it may not do there is 403 rather than 404.
    expect((await w.share("maker", process, "viewer", [{ type: "user", id: w.id("pex") }])).status).toBe(201);
    await w.user("first", { roles: ["BasicUser"] });
    await w.user("second", { roles: ["BasicUser"] });
    await w.user("third", { roles: ["BasicUser"] });
    expect((await w.share("pex", process, "viewer", [{ type: "user", id: w.id("first") }])).status).toBe(201);

    // The role taken out of the membership: the very next share is refused.
    expect((await setRoles(w, "pex", ["BasicUser"])).status).toBe(200);
    const afterRemoval = await w.share("pex", process, "viewer", [{ type: "user", id: w.id("second") }]);
    expect(expectProblem(afterRemoval, 403).detail).toMatch(/processMining\.share is not allowed for viewer/);

    // Back in, it works again; then the role loses the privilege: refused at once again.
    expect((await setRoles(w, "pex", ["BasicUser", roleId])).status).toBe(200);
    expect((await w.share("pex", process, "viewer", [{ type: "user", id: w.id("second") }])).status).toBe(201);
    const reduced = await w.as("admin", "PUT", `securityRoles/${roleId}`, {
      displayName: "Process excellence",
      privileges: { taskMining: ["share"] },
    });
    expect(reduced.status, reduced.text).toBe(200);
    const afterReduction = await w.share("pex", process, "viewer", [{ type: "user", id: w.id("third") }]);
    expectProblem(afterReduction, 403);
    expectProblem(await w.as("pex", "DELETE", `resources/${process}/shares/user/${w.id("first")}/viewer`), 403);
  });

  it("writes the roles and the memberships naming them to the change log", async () => {
    const { w, roleId } = await rolesWorld(stack);
    await w.as("admin", "PUT", `securityRoles/${roleId}`, {
      displayName: "Process excellence",
      privileges: { processMining: ["share"], taskMining: ["share"] },
    });
    const log = await w.as("admin", "GET", "changes");
    expect(log.status, log.text).toBe(200);
    const items = (log.json as { items: { action: string; detail: string; principal?: { id: string } }[] }).items;
    expect(items.find((e) => e.action === "securityRole.created")?.detail).toBe(
      `created security role ${roleId} (Process excellence): share on processMining`,
    );
    expect(items.find((e) => e.action === "securityRole.updated")?.detail).toBe(
      `updated security role ${roleId} (Process excellence): share on processMining → share on processMining, share on taskMining`,
    );
    const membership = items.find((e) => e.action === "membership.updated" && e.principal?.id === w.id("pex"));
    expect(membership?.detail).toBe(`security roles: BasicUser, ${roleId}`);
  });

  it("are in the OpenAPI document with their bodies, response schemas and paging parameters", async () => {
    type Op = {
      parameters?: { name: string; in: string }[];
      requestBody?: unknown;
      responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
    };
    const doc = (await stack.api("GET", "/api/openapi.json")).json as { paths: Record<string, Record<string, Op>> };
    const path = (p: string) => doc.paths[p] ?? doc.paths[`/api${p}`];
    const one = path("/environments/{envId}/securityRoles/{roleId}");
    const list = path("/environments/{envId}/securityRoles");
    const schemaOf = (op: Op | undefined, status: string) =>
      op?.responses[status]?.content?.["application/json"]?.schema;
    expect(one?.put?.requestBody).toBeDefined();
    expect(schemaOf(one?.put, "201")).toBeDefined();
    expect(schemaOf(one?.put, "200")).toBeDefined();
    expect(schemaOf(one?.get, "200")).toBeDefined();
    expect(schemaOf(list?.get, "200")).toBeDefined();
    expect(list?.get?.parameters?.filter((p) => p.in === "query").map((p) => p.name)).toEqual(
      expect.arrayContaining(["continuationToken", "top"]),
    );
  });

  it("are listed by GET /api/actions beside the roles", async () => {
    const { w } = await rolesWorld(stack);
    const r = await w.as("pex", "GET", "/api/actions");
    expect(r.status, r.text).toBe(200);
    const kinds = (
      r.json as { kinds: { kind: string; actions: { action: string; allowedForPrivileges: string[] }[] }[] }
    ).kinds;
    const privilegesFor = (action: string) =>
      kinds.flatMap((k) => k.actions).find((a) => a.action === action)?.allowedForPrivileges;
    expect(privilegesFor("processMining.share")).toEqual(["share"]);
    expect(privilegesFor("cloudFlow.manageOwners")).toEqual(["share"]);
    expect(privilegesFor("processMining.delete")).toEqual([]);
  });
});
