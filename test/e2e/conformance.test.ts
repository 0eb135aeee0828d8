/**
 * The defects an outside check against the contract found (issue 10), through HTTP: Sharing.Admin
 * apps manage any resource; Sharing.Check apps are told 403, not 404, outside checks and access; and
 * changes to environments, users, memberships and groups reach the change log.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../support/stack.js";
import { expectProblem, expectStatus, newWorld, uid } from "../support/world.js";

interface Item {
  actorId: string;
  action: string;
  principal?: { type: string; id: string };
  detail: string;
  counts?: { added: number; removed: number };
}

describe("conformance with the contract, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("a Sharing.Admin app updates and deletes a cloud flow and a task mining process it has no role on", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    const flow = await w.resource("maker", { kind: "cloudFlow", triggerKind: "instant", solutionAware: true });
    const tm = await w.resource("maker", { kind: "taskMining" });
    for (const [id, kind] of [
      [flow, "cloudFlow"],
      [tm, "taskMining"],
    ] as const) {
      const path = `/api/environments/${w.envId}/resources/${id}`;
      const updated = await expectStatus(stack, 200, "PUT", path, {
        token: w.adminToken,
        body: {
          kind,
          displayName: `Renamed by the app ${id}`,
          creatorId: w.id("maker"),
          ...(kind === "cloudFlow" ? { triggerKind: "instant", solutionAware: true } : {}),
        },
      });
      expect(updated.json).toMatchObject({ resource: { displayName: `Renamed by the app ${id}` } });
      expect((updated.json as { allowedActions: string[] }).allowedActions).toEqual(
        expect.arrayContaining([`${kind}.delete`]),
      );
      expect((await stack.api("DELETE", path, { token: w.adminToken })).status).toBeLessThan(300);
      expectProblem(await w.as("maker", "GET", `resources/${id}`), 404);
    }
    // A user who is the environment's SystemAdministrator keeps the rules' admin column.
    await w.user("sysadmin", { roles: ["SystemAdministrator"] });
    const other = await w.resource("maker", { kind: "taskMining" });
    expectProblem(await w.as("sysadmin", "DELETE", `resources/${other}`), 403);
  });

  it("a Sharing.Check app gets 403 saying what its role allows outside check and access, and still checks", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    const pm = await w.resource("maker", { kind: "processMining" });
    const checker = await stack.token(uid("checker"), ["Sharing.Check"]);
    const env = `/api/environments/${w.envId}`;
    const refused: [string, string, unknown?][] = [
      ["GET", `${env}/resources/${pm}`],
      ["PUT", `${env}/resources/${pm}`, { kind: "processMining", displayName: "x", creatorId: w.id("maker") }],
      ["GET", `${env}/resources/${pm}/shares`],
      ["POST", `${env}/resources/${pm}/shares`, { role: "viewer", principals: [{ type: "user", id: w.id("maker") }] }],
      ["GET", `${env}/principals/${w.id("maker")}/resources`],
      ["GET", `${env}/directory?search=a`],
      ["GET", `${env}/changes`],
      ["POST", `${env}/audits`],
      ["POST", `${env}/reassignments`, { fromUserId: w.id("maker"), toUserId: w.id("maker") }],
      ["GET", env],
      ["GET", `${env}/resources`],
      ["GET", `${env}/users`],
      ["GET", "/api/environments"],
      ["GET", `/api/users/${w.id("maker")}`],
      // An environment that doesn't exist is refused the same way: the role never allows the call.
      ["GET", `/api/environments/${uid("nope")}/resources/${pm}`],
    ];
    for (const [method, path, body] of refused) {
      const r = await stack.api(method, path, { token: checker, ...(body === undefined ? {} : { body }) });
      expect(expectProblem(r, 403).detail, `${method} ${path}`).toMatch(/Sharing\.Check.*only allows checks/);
    }
    const checked = await expectStatus(stack, 200, "POST", `${env}/check`, {
      token: checker,
      body: { checks: [{ principalId: w.id("maker"), resourceId: pm, action: "processMining.delete" }] },
    });
    expect(checked.json).toMatchObject({ results: [{ allowed: true }] });
    await expectStatus(stack, 200, "GET", `${env}/resources/${pm}/access/${w.id("maker")}`, { token: checker });
    await expectStatus(stack, 200, "GET", "/api/actions", { token: checker });
  });

  it("changes to the environment, users, memberships and groups reach the change log", async () => {
    const w = await newWorld(stack);
    const alice = await w.user("alice");
    const bob = await w.user("bob", { roles: ["BasicUser"] });
    await w.user("carol", { roles: null });
    // A second environment alice is in: her profile change is logged in both.
    const second = uid("env");
    await expectStatus(stack, 201, "PUT", `/api/environments/${second}`, {
      token: w.adminToken,
      body: { displayName: "Second" },
    });
    await expectStatus(stack, 201, "PUT", `/api/environments/${second}/users/${alice}`, {
      token: w.adminToken,
      body: { securityRoles: ["BasicUser"] },
    });
    await expectStatus(stack, 200, "PUT", `/api/environments/${w.envId}`, {
      token: w.adminToken,
      body: { displayName: "Renamed", sensitive: true },
    });
    // The same body again changes nothing, and logs nothing.
    await expectStatus(stack, 200, "PUT", `/api/environments/${w.envId}`, {
      token: w.adminToken,
      body: { displayName: "Renamed", sensitive: true },
    });
    await w.updateUser("alice", { displayName: "Alice Renamed", enabled: false });
    await w.updateUser("bob", { roles: ["EnvironmentMaker"] });
    const group = uid("grp");
    await w.group(group, ["alice", "bob"]);
    await w.group(group, ["alice", "bob"], "securityGroup", "Renamed group");
    await w.user("dave");
    expect(
      (await w.as("alice", "GET", "/api/users/" + alice)).status, // alice may read herself, disabled or not
    ).toBe(200);
    await expectStatus(stack, 200, "PATCH", `/api/environments/${w.envId}/groups/${group}/members`, {
      token: w.adminToken,
      body: { add: [w.id("dave")], remove: [bob] },
    });

    const log = async (envId: string) =>
      (
        (await expectStatus(stack, 200, "GET", `/api/environments/${envId}/changes`, { token: w.adminToken })).json as {
          items: Item[];
        }
      ).items;
    const items = await log(w.envId);
    const of = (action: string) => items.filter((i) => i.action === action);
    expect(of("environment.created")).toHaveLength(1);
    expect(of("environment.updated")).toEqual([expect.objectContaining({ detail: expect.stringMatching(/Renamed/) })]);
    expect(of("user.updated")).toEqual([
      expect.objectContaining({
        principal: { type: "user", id: alice },
        detail: expect.stringMatching(/displayName .* → Alice Renamed.*enabled true → false/),
      }),
    ]);
    expect(of("membership.added").map((i) => i.principal?.id)).toEqual(
      expect.arrayContaining([alice, bob, w.id("dave")]),
    );
    expect(of("membership.added").map((i) => i.principal?.id)).not.toContain(w.id("carol"));
    expect(of("membership.updated")).toEqual([
      expect.objectContaining({ principal: { type: "user", id: bob }, detail: "security roles: EnvironmentMaker" }),
    ]);
    expect(of("group.created")).toEqual([expect.objectContaining({ principal: { type: "group", id: group } })]);
    expect(of("group.updated")).toEqual([expect.objectContaining({ detail: expect.stringMatching(/Renamed group/) })]);
    // One entry per membership change, with counts, not one per member; newest first.
    expect(of("group.members").map((i) => i.counts)).toEqual([
      { added: 1, removed: 1 },
      { added: 2, removed: 0 },
    ]);
    expect(items.every((i) => typeof i.actorId === "string" && typeof i.detail === "string")).toBe(true);

    const secondLog = await log(second);
    expect(secondLog.filter((i) => i.action === "user.updated")).toEqual([
      expect.objectContaining({ principal: { type: "user", id: alice } }),
    ]);
    expect(secondLog.filter((i) => i.action === "membership.added")).toHaveLength(1);
  });
});
