/**
 * Data for the invitation end-to-end and browser tests, made through the HTTP API with unique ids
 * per test, and small probes of the mail sink and of storage. No sleeps: everything polls.
 */
import { randomUUID } from "node:crypto";
import { QueueClient } from "@azure/storage-queue";
import { expect } from "vitest";
import type { SinkMessage } from "../../tools/mailSink.js";
import type { Stack } from "../support/stack.js";

/** Polls `probe` until it returns something other than undefined. */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

export interface Person {
  id: string;
  email: string;
  displayName: string;
}

export interface World {
  envId: string;
  resourceId: string;
  maker: Person;
  invitee: Person;
  admin: Person;
  makerToken: string;
  adminAppToken: string;
}

async function ok(stack: Stack, method: string, path: string, token: string, body?: unknown) {
  const r = await stack.api(method, path, { token, ...(body === undefined ? {} : { body }) });
  if (r.status >= 300) throw new Error(`${method} ${path} answered ${r.status}: ${r.text}`);
  return r;
}

/**
 * An environment with a maker (who registers a resource), an invitee and an environment admin, each
 * with a unique email address so the sink's messages can be told apart.
 */
export async function makeWorld(
  stack: Stack,
  options: {
    sensitive?: boolean;
    kind?: "processMining" | "taskMining" | "cloudFlow";
    analyticsReady?: boolean;
    makerName?: string;
    resourceName?: string;
  } = {},
): Promise<World> {
  const tag = unique("w");
  const envId = `env-${tag}`;
  const resourceId = `res-${tag}`;
  const person = (role: string, displayName: string): Person => ({
    id: `${role}-${tag}`,
    email: `${role}-${tag}@example.test`,
    displayName,
  });
  const maker = person("maker", options.makerName ?? "Megan Maker");
  const invitee = person("invitee", "Gina Guest");
  const admin = person("admin", "Ada Admin");
  const adminAppToken = await stack.token(`app-${tag}`, ["Sharing.Admin"]);
  await ok(stack, "PUT", `/api/environments/${envId}`, adminAppToken, {
    displayName: `Env ${tag}`,
    isDefault: false,
    sensitive: options.sensitive ?? false,
  });
  for (const [p, roles] of [
    [maker, ["EnvironmentMaker"]],
    [invitee, ["BasicUser"]],
    [admin, ["SystemAdministrator"]],
  ] as const) {
    await ok(stack, "PUT", `/api/users/${p.id}`, adminAppToken, {
      email: p.email,
      displayName: p.displayName,
      userType: "member",
      enabled: true,
      license: "paid",
    });
    await ok(stack, "PUT", `/api/environments/${envId}/users/${p.id}`, adminAppToken, { securityRoles: roles });
  }
  const makerToken = await stack.token(maker.id);
  const kind = options.kind ?? "processMining";
  await ok(stack, "PUT", `/api/environments/${envId}/resources/${resourceId}`, makerToken, {
    kind,
    displayName: options.resourceName ?? "Invoice processing",
    creatorId: maker.id,
    ...(kind === "processMining" ? { analyticsReady: options.analyticsReady ?? true } : {}),
    ...(kind === "cloudFlow" ? { triggerKind: "instant", solutionAware: true } : {}),
  });
  return { envId, resourceId, maker, invitee, admin, makerToken, adminAppToken };
}

/** Shares a role with the world's invitee; returns the invitation's id. */
export async function shareWithInvitee(stack: Stack, w: World, role: string, message?: string): Promise<string> {
  const r = await ok(stack, "POST", `/api/environments/${w.envId}/resources/${w.resourceId}/shares`, w.makerToken, {
    role,
    principals: [{ type: "user", id: w.invitee.id }],
    ...(message === undefined ? {} : { message }),
  });
  expect(r.status).toBe(201);
  const body = r.json as { invitations: { id: string }[] };
  const id = body.invitations[0]?.id;
  if (!id) throw new Error(`the share created no invitation: ${r.text}`);
  return id;
}

/** The invitations of the world's resource as the shared-with view lists them. */
export async function invitationStatus(stack: Stack, w: World, invitationId: string): Promise<string | undefined> {
  const r = await ok(stack, "GET", `/api/environments/${w.envId}/resources/${w.resourceId}/shares`, w.makerToken);
  const body = r.json as { invitations: { id: string; status: string }[] };
  return body.invitations.find((i) => i.id === invitationId)?.status;
}

export const mailTo = (stack: Stack, address: string): SinkMessage[] =>
  stack.sink.messages().filter((m) => m.to.includes(address));

/** Waits for exactly `count` messages to `address` and returns them (newest first). */
export function waitForMail(stack: Stack, address: string, count = 1, timeoutMs = 30_000): Promise<SinkMessage[]> {
  return eventually(
    () => {
      const list = mailTo(stack, address);
      if (list.length > count) throw new Error(`expected ${count} message(s) to ${address}, got ${list.length}`);
      return list.length === count ? list : undefined;
    },
    `${count} message(s) to ${address}`,
    timeoutMs,
  );
}

/** The invitation link in an email (plain text). */
export function linkIn(stack: Stack, message: SinkMessage): string {
  const match = new RegExp(
    `${stack.baseUrl.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/api/invitations/([A-Za-z0-9_.-]+)`,
  ).exec(message.plainText);
  if (!match) throw new Error(`no invitation link in: ${message.plainText}`);
  return match[0];
}

export const tokenOf = (link: string) => link.slice(link.lastIndexOf("/") + 1);

export const queue = (stack: Stack, name: string) => new QueueClient(stack.storageConnectionString, name);

/** Messages (decoded) currently visible or not in a queue, up to 32, without taking them. */
export async function peekTexts(stack: Stack, name: string): Promise<string[]> {
  const q = queue(stack, name);
  if (!(await q.exists())) return [];
  const peeked = await q.peekMessages({ numberOfMessages: 32 });
  return peeked.peekedMessageItems.map((m) => Buffer.from(m.messageText, "base64").toString("utf8"));
}

/** How many messages a queue holds, invisible ones included. */
export async function queueLength(stack: Stack, name: string): Promise<number> {
  const q = queue(stack, name);
  if (!(await q.exists())) return 0;
  return (await q.getProperties()).approximateMessagesCount ?? 0;
}
