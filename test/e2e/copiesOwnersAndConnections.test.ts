import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../support/stack.js";
import { expectStatus, newWorld, uid, type EnvironmentSpec } from "../support/world.js";

/**
 * The owner and connection rules of cloud flows (seed 004), through HTTP: warnings when an owner
 * whose credentials back embedded connections is removed, credentials of others' connections,
 * run-only connection choices, and people shared with before they are in the environment.
 */
describe("flow owners and connections, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  async function world(env: EnvironmentSpec = {}) {
    const w = await newWorld(stack, env);
    const maker = await w.user("maker");
    const co = await w.user("co");
    const runner = await w.user("runner", { roles: ["BasicUser"] });
    const envId = w.envId;
    const flow = `/api/environments/${envId}/resources/${uid("flow")}`;
    const connections = [
      { id: "outlook", connector: "Office 365 Outlook", ownerId: maker, usage: "embedded" },
      { id: "teams", connector: "Teams", ownerId: co, usage: "embedded" },
      { id: "sp", connector: "SharePoint", ownerId: co, usage: "other" },
    ];
    const body = {
      kind: "cloudFlow",
      displayName: "Approvals",
      creatorId: maker,
      solutionAware: true,
      triggerKind: "instant",
      connections,
    };
    await expectStatus(stack, 201, "PUT", flow, { token: w.adminToken, body });
    await expectStatus(stack, 201, "POST", `${flow}/shares`, {
      token: await w.token("maker"),
      body: { role: "owner", principals: [{ type: "user", id: co }], sendInvitation: false },
    });
    return { ...w, maker, co, runner, flow, body, connections };
  }

  it("warns, on removing an owner, about the embedded connections that used their credentials; never removes the creator", async () => {
    const w = await world();
    const r = await expectStatus(stack, 200, "DELETE", `${w.flow}/shares/user/${w.co}/owner`, {
      token: await w.token("maker"),
    });
    const warnings = (r.json as { warnings: string[] }).warnings;
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/embedded connection teams \(Teams\)/);
    expect(warnings.join()).not.toMatch(/connection sp\b|SharePoint/);
    await expectStatus(stack, 409, "DELETE", `${w.flow}/shares/user/${w.maker}/owner`, { token: w.adminToken });
  });

  it("lets an owner change only their own connections' credentials", async () => {
    const w = await world();
    const [outlook, teams, sp] = w.connections;
    const put = async (status: number, who: "maker" | "co", connections: unknown[]) =>
      expectStatus(stack, status, "PUT", w.flow, { token: await w.token(who), body: { ...w.body, connections } });
    const refused = await put(403, "co", [{ ...outlook, ownerId: w.co }, teams, sp]);
    expect(refused.json).toMatchObject({
      detail: expect.stringMatching(/created by .*maker.*can't change the credentials/),
    });
    await put(403, "co", [{ ...outlook, connector: "Gmail" }, teams, sp]);
    await put(403, "co", [outlook, teams, sp, { id: "new", connector: "X", ownerId: w.maker, usage: "embedded" }]);
    // Usage may change, any connection may be dropped, own ones changed, own ones added.
    await put(200, "co", [
      { ...outlook, usage: "other" },
      { ...teams, connector: "Microsoft Teams" },
      { id: "mine", connector: "Excel", ownerId: w.co, usage: "embedded" },
    ]);
  });

  it("stores each connection's run-only choice and shows it in the run-only user's access", async () => {
    const w = await world();
    await expectStatus(stack, 201, "POST", `${w.flow}/shares`, {
      token: await w.token("maker"),
      body: {
        role: "runOnly",
        principals: [{ type: "user", id: w.runner }],
        sendInvitation: false,
        connectionChoices: { teams: "invoker" },
      },
    });
    const access = await expectStatus(stack, 200, "GET", `${w.flow}/access/${w.runner}`, {
      token: await w.token("runner"),
    });
    expect(access.json).toMatchObject({
      roles: ["runOnly"],
      actions: ["cloudFlow.run"],
      connectionChoices: { outlook: "embedded", teams: "invoker" },
    });
    await expectStatus(stack, 400, "POST", `${w.flow}/shares`, {
      token: await w.token("maker"),
      body: {
        role: "runOnly",
        principals: [{ type: "user", id: w.co }],
        sendInvitation: false,
        connectionChoices: { nope: "invoker" },
      },
    });
    const automated = `/api/environments/${w.envId}/resources/${uid("auto")}`;
    await expectStatus(stack, 201, "PUT", automated, {
      token: await w.token("maker"),
      body: { ...w.body, triggerKind: "automated", connections: [] },
    });
    await expectStatus(stack, 422, "POST", `${automated}/shares`, {
      token: await w.token("maker"),
      body: { role: "runOnly", principals: [{ type: "user", id: w.runner }], sendInvitation: false },
    });
  });

  it("adds a tenant user shared with to the environment: with no role outside the default environment, so they may only run", async () => {
    const w = await world();
    // A tenant user not yet in the environment.
    const newcomer = await w.user("newcomer", { roles: null });
    await expectStatus(stack, 201, "POST", `${w.flow}/shares`, {
      token: await w.token("maker"),
      body: { role: "owner", principals: [{ type: "user", id: newcomer }], sendInvitation: false },
    });
    const found = await expectStatus(
      stack,
      200,
      "GET",
      `/api/environments/${w.envId}/directory?search=${encodeURIComponent(w.person("newcomer").displayName)}`,
      { token: await w.token("maker") },
    );
    expect(found.json).toMatchObject({ items: [{ id: newcomer, isMember: true }] });
    const access = await expectStatus(stack, 200, "GET", `${w.flow}/access/${newcomer}`, {
      token: await w.token("newcomer"),
    });
    expect(access.json).toMatchObject({
      roles: ["owner"],
      actions: ["cloudFlow.run"],
      limitation: expect.stringMatching(/no security role .* admin/),
    });
    const checks = await expectStatus(stack, 200, "POST", `/api/environments/${w.envId}/check`, {
      token: await w.token("newcomer"),
      body: {
        checks: [
          { principalId: newcomer, resourceId: w.flow.split("/").at(-1), action: "cloudFlow.run" },
          { principalId: newcomer, resourceId: w.flow.split("/").at(-1), action: "cloudFlow.editDefinition" },
        ],
      },
    });
    expect(checks.json).toMatchObject({
      results: [
        { allowed: true },
        { allowed: false, reason: expect.stringMatching(/until an environment admin assigns a role/) },
      ],
    });
    const edit = await expectStatus(stack, 403, "PUT", w.flow, { token: await w.token("newcomer"), body: w.body });
    expect(edit.json).toMatchObject({ detail: expect.stringMatching(/no security role/) });
    const log = await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/changes?principalId=${newcomer}`, {
      token: w.adminToken,
    });
    expect((log.json as { items: { action: string }[] }).items.map((i) => i.action)).toEqual(
      expect.arrayContaining(["member.added", "grant"]),
    );
  });

  it("adds them with EnvironmentMaker in the default environment", async () => {
    const w = await world({ isDefault: true });
    // A tenant user not yet in the environment.
    const newcomer = await w.user("newcomer", { roles: null });
    await expectStatus(stack, 201, "POST", `${w.flow}/shares`, {
      token: await w.token("maker"),
      body: { role: "owner", principals: [{ type: "user", id: newcomer }], sendInvitation: false },
    });
    const access = await expectStatus(stack, 200, "GET", `${w.flow}/access/${newcomer}`, {
      token: await w.token("newcomer"),
    });
    expect((access.json as { actions: string[] }).actions).toContain("cloudFlow.editDefinition");
  });
});
