/**
 * The one end-to-end world builder: a fresh environment of a running stack, with its people,
 * resources and groups made through the HTTP API. Every id is unique to the test, so tests share a
 * stack without seeing each other's data. Mail and queue probes live in `mail.ts` and `queues.ts`,
 * waiting in `poll.ts`.
 */
import { expect } from "vitest";
import { eventually } from "./poll.js";
import type { ApiOptions, ApiResult, Stack } from "./stack.js";

let n = 0;
/** An id no other test uses. */
export const uid = (label: string) =>
  `${label}-${Date.now().toString(36)}${(n++).toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

export type SecurityRole = "SystemAdministrator" | "EnvironmentMaker" | "BasicUser";

export interface UserSpec {
  /** Defaults to `<name> <id>`. */
  displayName?: string;
  license?: "free" | "paid" | "seeded";
  userType?: "member" | "guest";
  enabled?: boolean;
  /** Security roles in the environment (default EnvironmentMaker); `null` leaves the user outside the environment. */
  roles?: SecurityRole[] | null;
}

export interface EnvironmentSpec {
  isDefault?: boolean;
  sensitive?: boolean;
  maxOwners?: number;
  expectedOwnerGroupIds?: string[];
  sovereignCloud?: boolean;
  autoOffboard?: boolean;
  /** Data loss prevention: connectors by class. */
  dlp?: { business?: string[]; nonBusiness?: string[]; blocked?: string[] };
}

/** A user of a world, as the API and the mail sink know them. */
export interface Person {
  id: string;
  email: string;
  displayName: string;
}

/** Calls the API and fails with the answer when its status isn't `status`. */
export async function expectStatus(
  stack: Stack,
  status: number,
  method: string,
  path: string,
  options: ApiOptions = {},
): Promise<ApiResult> {
  const r = await stack.api(method, path, options);
  if (r.status !== status) throw new Error(`${method} ${path}: expected ${status}, got ${r.status}: ${r.text}`);
  return r;
}

/** A finding of an audit's report, as the contract gives it. */
export interface AuditFinding {
  rule: string;
  severity: string;
  resourceId?: string;
  principalId?: string;
  detail: string;
}

/** Every item of a paged listing (`items`, `continuationToken`), page after page, each page a 200. */
export async function allPages<T>(stack: Stack, path: string, token: string): Promise<T[]> {
  const items: T[] = [];
  let next: string | undefined;
  do {
    const q = next ? `${path.includes("?") ? "&" : "?"}continuationToken=${encodeURIComponent(next)}` : "";
    const page = (await expectStatus(stack, 200, "GET", `${path}${q}`, { token })).json as {
      items: T[];
      continuationToken?: string;
    };
    items.push(...page.items);
    next = page.continuationToken;
  } while (next);
  return items;
}

/** Runs an audit of the environment now (`POST .../audits`) and waits for its report. */
export async function finishedAudit(
  stack: Stack,
  envId: string,
  token: string,
): Promise<{ auditId: string; status: string; findings: AuditFinding[] }> {
  const { auditId } = (await expectStatus(stack, 202, "POST", `/api/environments/${envId}/audits`, { token })).json as {
    auditId: string;
  };
  const report = await eventually(
    `audit ${auditId} to finish`,
    async () =>
      (await expectStatus(stack, 200, "GET", `/api/environments/${envId}/audits/${auditId}`, { token })).json as {
        status: string;
        findings: AuditFinding[];
      },
    { until: (r) => r.status === "done" },
  );
  return { auditId, ...report };
}

const ok = (r: ApiResult, what: string) => {
  if (r.status >= 300) throw new Error(`${what} answered ${r.status}: ${r.text}`);
  return r;
};

export type World = Awaited<ReturnType<typeof newWorld>>;

/**
 * A fresh environment of a running stack, set up by an app with Sharing.Admin, with helpers to add
 * people (by name: `user("maker")`, then `id("maker")`, `token("maker")`), resources and groups,
 * and to call the API as one of them.
 */
export async function newWorld(stack: Stack, env: EnvironmentSpec = {}) {
  const envId = uid("env");
  const adminToken = await stack.token(uid("app"), ["Sharing.Admin"]);
  ok(
    await stack.api("PUT", `/api/environments/${envId}`, {
      token: adminToken,
      body: { displayName: `Env ${envId}`, ...env },
    }),
    "PUT environment",
  );
  const people = new Map<string, { id: string; spec: UserSpec }>();
  const tokens = new Map<string, string>();

  const personOf = (name: string) => {
    const p = people.get(name);
    if (!p) throw new Error(`no user ${name} in this world`);
    return p;
  };
  const displayNameOf = (name: string, p: { id: string; spec: UserSpec }) => p.spec.displayName ?? `${name} ${p.id}`;
  const putUser = async (name: string, p: { id: string; spec: UserSpec }) =>
    ok(
      await stack.api("PUT", `/api/users/${p.id}`, {
        token: adminToken,
        body: {
          email: `${p.id}@contoso.example`,
          displayName: displayNameOf(name, p),
          userType: p.spec.userType ?? "member",
          enabled: p.spec.enabled ?? true,
          license: p.spec.license ?? "paid",
        },
      }),
      `PUT user ${name}`,
    );
  const putMembership = async (name: string, id: string, roles: SecurityRole[]) =>
    ok(
      await stack.api("PUT", `/api/environments/${envId}/users/${id}`, {
        token: adminToken,
        body: { securityRoles: roles },
      }),
      `PUT membership of ${name}`,
    );

  const world = {
    stack,
    envId,
    /** A token of an app with Sharing.Admin, which made this world. */
    adminToken,
    /** The id of the user `name` of this world. */
    id(name: string): string {
      return personOf(name).id;
    },
    /** The email address of the user `name` (where the mail sink receives their mail). */
    email(name: string): string {
      return `${personOf(name).id}@contoso.example`;
    },
    person(name: string): Person {
      const p = personOf(name);
      return { id: p.id, email: world.email(name), displayName: displayNameOf(name, p) };
    },
    /** Adds a tenant user (and, unless `roles` is null, makes them a member); returns their id. */
    async user(name: string, spec: UserSpec = {}): Promise<string> {
      if (people.has(name)) throw new Error(`this world already has a user ${name}: use updateUser`);
      const p = { id: uid(name), spec };
      people.set(name, p);
      await putUser(name, p);
      if (spec.roles !== null) await putMembership(name, p.id, spec.roles ?? ["EnvironmentMaker"]);
      return p.id;
    },
    /** Changes a user of this world (say, disables them); their membership changes only if `roles` is given. */
    async updateUser(name: string, changes: Omit<UserSpec, "roles"> & { roles?: SecurityRole[] }): Promise<void> {
      const p = personOf(name);
      p.spec = { ...p.spec, ...changes };
      await putUser(name, p);
      if (changes.roles) await putMembership(name, p.id, changes.roles);
    },
    async token(name: string): Promise<string> {
      let t = tokens.get(name);
      if (!t) {
        t = await stack.token(world.id(name));
        tokens.set(name, t);
      }
      return t;
    },
    /** Calls the API as the user `name`; a path not under `/api/` is relative to the environment. */
    async as(name: string, method: string, path: string, body?: unknown): Promise<ApiResult> {
      return stack.api(method, path.startsWith("/api/") ? path : `/api/environments/${envId}/${path}`, {
        token: await world.token(name),
        ...(body !== undefined ? { body } : {}),
      });
    },
    /** Registers a resource as `creator`, under a fresh id; returns the id. */
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
    /** Shares a role, without an invitation unless `extra` asks for one. */
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
    /** Puts a group of this world's users (by name). */
    async group(
      groupId: string,
      memberNames: string[],
      kind: "securityGroup" | "sharePointList" = "securityGroup",
      displayName = `Group ${groupId}`,
    ): Promise<void> {
      ok(
        await stack.api("PUT", `/api/environments/${envId}/groups/${groupId}`, {
          token: adminToken,
          body: { displayName, kind, memberIds: memberNames.map((m) => world.id(m)) },
        }),
        "PUT group",
      );
    },
  };
  return world;
}

/**
 * The cast of the invitation tests: a maker who registered one resource, an invitee (BasicUser) and an
 * environment admin, with display names the emails are checked against.
 */
export async function invitationWorld(
  stack: Stack,
  options: {
    sensitive?: boolean;
    kind?: "processMining" | "taskMining" | "cloudFlow";
    analyticsReady?: boolean;
    makerName?: string;
    resourceName?: string;
  } = {},
) {
  const w = await newWorld(stack, { isDefault: false, sensitive: options.sensitive ?? false });
  await w.user("maker", { displayName: options.makerName ?? "Megan Maker" });
  await w.user("invitee", { displayName: "Gina Guest", roles: ["BasicUser"] });
  await w.user("admin", { displayName: "Ada Admin", roles: ["SystemAdministrator"] });
  const kind = options.kind ?? "processMining";
  const resourceId = await w.resource("maker", {
    kind,
    displayName: options.resourceName ?? "Invoice processing",
    ...(kind === "processMining" ? { analyticsReady: options.analyticsReady ?? true } : {}),
    ...(kind === "cloudFlow" ? { triggerKind: "instant", solutionAware: true } : {}),
  });
  const invitations = {
    ...w,
    resourceId,
    maker: w.person("maker"),
    invitee: w.person("invitee"),
    admin: w.person("admin"),
    makerToken: await w.token("maker"),
    /** The maker shares `role` with the invitee (with an invitation, the API's default); returns the invitation's id. */
    async shareWithInvitee(role: string, message?: string): Promise<string> {
      const r = await w.as("maker", "POST", `resources/${resourceId}/shares`, {
        role,
        principals: [{ type: "user", id: w.id("invitee") }],
        ...(message === undefined ? {} : { message }),
      });
      expect(r.status, r.text).toBe(201);
      const id = (r.json as { invitations: { id: string }[] }).invitations[0]?.id;
      if (!id) throw new Error(`the share created no invitation: ${r.text}`);
      return id;
    },
    /** An invitation's status as the maker's view of the resource's shares lists it. */
    async invitationStatus(invitationId: string): Promise<string | undefined> {
      const r = ok(await w.as("maker", "GET", `resources/${resourceId}/shares`), "GET shares");
      const body = r.json as { invitations: { id: string; status: string }[] };
      return body.invitations.find((i) => i.id === invitationId)?.status;
    },
    /** Waits until the invitation reads `status`. */
    async waitForInvitation(invitationId: string, status: string, timeoutMs?: number): Promise<void> {
      await eventually(
        `invitation ${invitationId} to read ${status}`,
        () => invitations.invitationStatus(invitationId),
        {
          until: (s) => s === status,
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
        },
      );
    },
  };
  return invitations;
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
