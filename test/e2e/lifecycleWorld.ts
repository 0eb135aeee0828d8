import { randomBytes } from "node:crypto";
import { expect } from "vitest";
import type { ApiResult, Stack } from "../support/stack.js";
import type { SinkMessage } from "../../tools/mailSink.js";

/** Ids unique to one test, so tests share a stack without seeing each other's data. */
export function uniqueIds(prefix: string) {
  const tag = `${prefix}-${randomBytes(4).toString("hex")}`;
  return { env: tag, id: (name: string) => `${tag}-${name}` };
}

export interface Person {
  id: string;
  roles?: ("SystemAdministrator" | "EnvironmentMaker" | "BasicUser")[] | undefined;
  userType?: "member" | "guest";
  enabled?: boolean;
  license?: "free" | "paid" | "seeded";
}

/** Calls the API and fails with the response when the status isn't the expected one. */
export async function expectStatus(
  stack: Stack,
  status: number,
  method: string,
  path: string,
  options: Parameters<Stack["api"]>[2] = {},
): Promise<ApiResult> {
  const r = await stack.api(method, path, options);
  if (r.status !== status) throw new Error(`${method} ${path}: expected ${status}, got ${r.status}: ${r.text}`);
  return r;
}

/** An environment, its people and tokens, set up through the API with a Sharing.Admin app token. */
export async function environment(stack: Stack, envId: string, env: Record<string, unknown>, people: Person[]) {
  const app = await stack.token(`${envId}-loader`, ["Sharing.Admin"]);
  await expectStatus(stack, 201, "PUT", `/api/environments/${envId}`, {
    token: app,
    body: { displayName: `Env ${envId}`, ...env },
  });
  for (const p of people) await putPerson(stack, app, envId, p);
  const tokens = new Map<string, string>();
  const token = async (id: string) => {
    let t = tokens.get(id);
    if (!t) {
      t = await stack.token(id);
      tokens.set(id, t);
    }
    return t;
  };
  return { app, token };
}

export async function putPerson(stack: Stack, app: string, envId: string, p: Person): Promise<void> {
  const user = {
    email: `${p.id}@contoso.test`,
    displayName: `Name ${p.id}`,
    userType: p.userType ?? "member",
    enabled: p.enabled ?? true,
    license: p.license ?? "paid",
  };
  const put = await stack.api("PUT", `/api/users/${p.id}`, { token: app, body: user });
  if (put.status !== 200 && put.status !== 201) throw new Error(`PUT user ${p.id}: ${put.status} ${put.text}`);
  if (p.roles) {
    const m = await stack.api("PUT", `/api/environments/${envId}/users/${p.id}`, {
      token: app,
      body: { securityRoles: p.roles },
    });
    if (m.status !== 200 && m.status !== 201) throw new Error(`PUT membership ${p.id}: ${m.status} ${m.text}`);
  }
}

/** Polls until `check` returns a value (not undefined), or fails after the timeout with the last state. */
export async function poll<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 250);
  }
}

/** The first sink message to `address` whose subject matches, polled for. */
export function mailTo(stack: Stack, address: string, subject: RegExp): Promise<SinkMessage> {
  return poll(`an email to ${address} matching ${subject}`, async () =>
    stack.sink.messages().find((m) => m.to.includes(address) && subject.test(m.subject)),
  );
}

export function field<T = unknown>(value: unknown, ...path: (string | number)[]): T {
  let v: unknown = value;
  for (const p of path) v = (v as Record<string | number, unknown> | undefined)?.[p];
  return v as T;
}

export { expect };
