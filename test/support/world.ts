import { expect } from "vitest";
import type { ApiResult, Stack } from "./stack.js";

let n = 0;
/** An id no other test uses. */
export const uid = (label: string) =>
  `${label}-${Date.now().toString(36)}${(n++).toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

export interface UserSpec {
  license?: "free" | "paid" | "seeded";
  userType?: "member" | "guest";
  enabled?: boolean;
  /** Security roles in the environment; `null` leaves the user outside the environment. */
  roles?: ("SystemAdministrator" | "EnvironmentMaker" | "BasicUser")[] | null;
}

/**
 * A fresh environment of a running stack, with helpers to add people and resources through the
 * HTTP API. Every id is unique to the test.
 */
export async function newWorld(
  stack: Stack,
  env: {
    isDefault?: boolean;
    sensitive?: boolean;
    maxOwners?: number;
    expectedOwnerGroupIds?: string[];
    sovereignCloud?: boolean;
  } = {},
) {
  const envId = uid("env");
  const adminToken = await stack.token(uid("app"), ["Sharing.Admin"]);
  const ok = (r: ApiResult, what: string) => {
    if (r.status >= 300) throw new Error(`${what} answered ${r.status}: ${r.text}`);
    return r;
  };
  ok(
    await stack.api("PUT", `/api/environments/${envId}`, {
      token: adminToken,
      body: { displayName: `Env ${envId}`, ...env },
    }),
    "PUT environment",
  );
  const ids = new Map<string, string>();
  const tokens = new Map<string, string>();

  const world = {
    envId,
    adminToken,
    id(name: string): string {
      const id = ids.get(name);
      if (!id) throw new Error(`no user ${name} in this world`);
      return id;
    },
    async user(name: string, spec: UserSpec = {}): Promise<string> {
      const id = uid(name);
      ids.set(name, id);
      ok(
        await stack.api("PUT", `/api/users/${id}`, {
          token: adminToken,
          body: {
            email: `${id}@contoso.example`,
            displayName: `${name} ${id}`,
            userType: spec.userType ?? "member",
            enabled: spec.enabled ?? true,
            license: spec.license ?? "paid",
          },
        }),
        "PUT user",
      );
      if (spec.roles !== null) {
        ok(
          await stack.api("PUT", `/api/environments/${envId}/users/${id}`, {
            token: adminToken,
            body: { securityRoles: spec.roles ?? ["EnvironmentMaker"] },
          }),
          "PUT membership",
        );
      }
      return id;
    },
    async token(name: string): Promise<string> {
      let t = tokens.get(name);
      if (!t) {
        t = await stack.token(world.id(name));
        tokens.set(name, t);
      }
      return t;
    },
    async as(name: string, method: string, path: string, body?: unknown): Promise<ApiResult> {
      return stack.api(method, path.startsWith("/api/") ? path : `/api/environments/${envId}/${path}`, {
        token: await world.token(name),
        ...(body !== undefined ? { body } : {}),
      });
    },
    async resource(creator: string, body: Record<string, unknown>): Promise<string> {
      const id = uid(String(body.kind));
      ok(
        await world.as(creator, "PUT", `resources/${id}`, {
          creatorId: world.id(creator),
          displayName: `Resource ${id}`,
          ...body,
        }),
        "PUT resource",
      );
      return id;
    },
    async share(
      sharer: string,
      resourceId: string,
      role: string,
      principals: { type: string; id: string }[],
      extra: Record<string, unknown> = {},
    ): Promise<ApiResult> {
      return world.as(sharer, "POST", `resources/${resourceId}/shares`, {
        role,
        principals,
        sendInvitation: false,
        ...extra,
      });
    },
    async group(
      groupId: string,
      memberNames: string[],
      kind: "securityGroup" | "sharePointList" = "securityGroup",
    ): Promise<void> {
      ok(
        await stack.api("PUT", `/api/environments/${envId}/groups/${groupId}`, {
          token: adminToken,
          body: { displayName: `Group ${groupId}`, kind, memberIds: memberNames.map((m) => world.id(m)) },
        }),
        "PUT group",
      );
    },
  };
  return world;
}

/** Asserts a problem+json response with this status, and returns its body. */
export function expectProblem(
  r: ApiResult,
  status: number,
): { detail: string; errors?: { field: string; message: string }[] } {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  const body = r.json as {
    status: number;
    title: string;
    detail: string;
    errors?: { field: string; message: string }[];
  };
  expect(body.status).toBe(status);
  expect(typeof body.title).toBe("string");
  expect(typeof body.detail).toBe("string");
  return body;
}
