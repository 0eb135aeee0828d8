/**
 * The environment-admin gate on every route it guards, through HTTP: an enabled SystemAdministrator
 * passes, and the same user, once disabled in the tenant directory, gets 403 problem+json saying why.
 * A disabled user does nothing (sharing-rules.md), admin or not.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type ApiResult, type Stack } from "../support/stack.js";
import { expectProblem, newWorld, uid, type World } from "../support/world.js";

/** A world with an environment admin, two makers and a resource of the first maker. */
async function adminWorld(stack: Stack) {
  const w = await newWorld(stack);
  await w.user("admin", { roles: ["SystemAdministrator"] });
  await w.user("maker");
  await w.user("heir");
  const resourceId = await w.resource("maker", { kind: "processMining", displayName: "Invoices" });
  return { w, resourceId };
}

interface GuardedRoute {
  /** What the admin does, as the contract names it. */
  name: string;
  /** Calls the route as the world's admin; `round` makes the ids of each attempt unique. */
  call: (x: { w: World; resourceId: string; round: string }) => Promise<ApiResult>;
  /** The status an enabled admin gets. */
  ok: number;
  /** What the 403's detail says to the disabled admin. */
  refusal: RegExp;
}

const routes: GuardedRoute[] = [
  {
    name: "PUT membership",
    call: async ({ w, round }) => {
      const userId = uid(`newcomer-${round}`);
      await w.stack.api("PUT", `/api/users/${userId}`, {
        token: w.adminToken,
        body: {
          email: `${userId}@contoso.example`,
          displayName: userId,
          userType: "member",
          enabled: true,
          license: "paid",
        },
      });
      return w.as("admin", "PUT", `users/${userId}`, { securityRoles: ["EnvironmentMaker"] });
    },
    ok: 201,
    refusal: /members and groups needs its SystemAdministrator role \(as an enabled user\)/,
  },
  {
    name: "PUT group",
    call: ({ w, round }) =>
      w.as("admin", "PUT", `groups/${uid(`g-${round}`)}`, {
        displayName: "Makers",
        kind: "securityGroup",
        memberIds: [w.id("maker")],
      }),
    ok: 201,
    refusal: /members and groups needs its SystemAdministrator role \(as an enabled user\)/,
  },
  {
    name: "GET the environment's change log",
    call: ({ w }) => w.as("admin", "GET", "changes"),
    ok: 200,
    refusal: /change log is for environment admins/,
  },
  {
    name: "POST audits",
    call: ({ w }) => w.as("admin", "POST", "audits"),
    ok: 202,
    refusal: /audits are for environment admins/,
  },
  {
    name: "GET an audit",
    call: async ({ w }) => {
      const started = await w.stack.api("POST", `/api/environments/${w.envId}/audits`, { token: w.adminToken });
      expect(started.status, started.text).toBe(202);
      return w.as("admin", "GET", `audits/${(started.json as { auditId: string }).auditId}`);
    },
    ok: 200,
    refusal: /audits are for environment admins/,
  },
  {
    name: "POST reassignments",
    call: ({ w }) =>
      w.as("admin", "POST", "reassignments", { fromUserId: w.id("maker"), toUserId: w.id("heir"), dryRun: true }),
    ok: 200,
    refusal: /reassigning records needs the environment's SystemAdministrator role/,
  },
  {
    name: "GET another principal's resources",
    call: ({ w }) => w.as("admin", "GET", `principals/${w.id("maker")}/resources`),
    ok: 200,
    refusal: /only environment admins may list another principal's resources/,
  },
  {
    name: "PUT a resource with another user as creator",
    call: ({ w, round }) =>
      w.as("admin", "PUT", `resources/${uid(`p-${round}`)}`, {
        kind: "processMining",
        displayName: "For the maker",
        creatorId: w.id("maker"),
      }),
    ok: 201,
    refusal: /an environment maker registers resources with themselves as creator/,
  },
  {
    name: "GET another principal's effective access",
    call: ({ w, resourceId }) => w.as("admin", "GET", `resources/${resourceId}/access/${w.id("maker")}`),
    ok: 200,
    refusal: /environment admins and Sharing apps may see another principal's access/,
  },
  {
    name: "POST a share on a resource the admin holds no role on",
    call: ({ w, resourceId }) => w.share("admin", resourceId, "viewer", [{ type: "user", id: w.id("heir") }]),
    ok: 201,
    refusal: /disabled in the tenant directory/,
  },
  {
    name: "DELETE a resource the admin holds no role on",
    call: async ({ w, round }) => {
      const id = await w.resource("maker", { kind: "processMining", displayName: `Doomed ${round}` });
      return w.as("admin", "DELETE", `resources/${id}`);
    },
    ok: 204,
    refusal: /disabled in the tenant directory/,
  },
];

describe("the environment-admin gate, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it.each(routes.map((r) => [r.name, r] as const))(
    "%s: an enabled SystemAdministrator passes, the same user disabled gets 403",
    async (_, route) => {
      const { w, resourceId } = await adminWorld(stack);
      const enabled = await route.call({ w, resourceId, round: "enabled" });
      expect(enabled.status, enabled.text).toBe(route.ok);

      await w.updateUser("admin", { enabled: false });
      const disabled = await route.call({ w, resourceId, round: "disabled" });
      expect(expectProblem(disabled, 403).detail).toMatch(route.refusal);
    },
  );

  it("answers a disabled SystemAdministrator's checks about others as for anyone who may not ask", async () => {
    const { w, resourceId } = await adminWorld(stack);
    const checks = {
      checks: [{ principalId: w.id("maker"), resourceId, action: "processMining.viewAnalytics" }],
    };
    const enabled = await w.as("admin", "POST", "check", checks);
    expect(enabled.status, enabled.text).toBe(200);
    expect(enabled.json).toEqual({ results: [{ allowed: true, reason: expect.any(String) as string }] });

    await w.updateUser("admin", { enabled: false });
    const disabled = await w.as("admin", "POST", "check", checks);
    expect(disabled.status, disabled.text).toBe(200);
    expect(disabled.json).toEqual({
      results: [{ allowed: false, reason: "the caller may not ask about other principals on this resource" }],
    });
  });

  it("keeps the gate's 404 for an environment the admin is no member of", async () => {
    const { w } = await adminWorld(stack);
    const other = await newWorld(stack);
    const r = await w.as("admin", "PUT", `/api/environments/${other.envId}/users/${w.id("maker")}`, {
      securityRoles: ["BasicUser"],
    });
    expect(expectProblem(r, 404).detail).toBe(`environment ${other.envId} was not found`);
  });
});
