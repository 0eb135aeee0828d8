import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Stack } from "../support/stack.js";
import { startStack } from "../support/stack.js";
import { expectProblem, newWorld } from "../support/world.js";

let stack: Stack;
beforeAll(async () => {
  // The stack sets WEBHOOK_ALLOW_LOOPBACK_HTTP=true, as `npm start` does.
  stack = await startStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

interface Subscription {
  subscriptionId: string;
  url: string;
  eventTypes: string[];
  secret?: string;
  previousSecretExpiresAt?: string;
}

describe("webhook subscriptions through HTTP", () => {
  it("an admin subscribes a loopback receiver, reads, lists, rotates and deletes it; the log never holds a secret", async () => {
    const w = await newWorld(stack);
    await w.user("admin", { roles: ["SystemAdministrator"] });
    await w.user("viewer", { roles: ["BasicUser"] });
    const body = { url: "http://127.0.0.1:9/hook", eventTypes: ["sharing.grant.created"], description: "local" };

    expectProblem(await w.as("viewer", "PUT", "webhooks/local", body), 403);
    const made = await w.as("admin", "PUT", "webhooks/local", body);
    expect(made.status, made.text).toBe(201);
    expect(made.headers.get("cache-control")).toBe("no-store");
    const sub = made.json as Subscription;
    expect(sub).toMatchObject({ subscriptionId: "local", url: body.url, eventTypes: body.eventTypes });
    expect(sub.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const read = await w.as("admin", "GET", "webhooks/local");
    expect(read.status, read.text).toBe(200);
    expect(read.json).not.toHaveProperty("secret");
    const again = await w.as("admin", "PUT", "webhooks/local", { ...body, eventTypes: ["sharing.copy.sent"] });
    expect(again.status, again.text).toBe(200);
    expect(again.json).not.toHaveProperty("secret");

    const listed = await w.as("admin", "GET", "webhooks");
    expect(listed.status, listed.text).toBe(200);
    expect((listed.json as { items: Subscription[] }).items.map((s) => s.subscriptionId)).toEqual(["local"]);

    const rotated = await w.as("admin", "POST", "webhooks/local/rotate");
    expect(rotated.status, rotated.text).toBe(200);
    const next = rotated.json as Subscription;
    expect(next.secret).toMatch(/^whsec_/);
    expect(next.secret).not.toBe(sub.secret);
    expect(Date.parse(next.previousSecretExpiresAt!)).toBeGreaterThan(Date.now() + 23 * 3600_000);

    expect((await w.as("admin", "DELETE", "webhooks/local")).status).toBe(204);
    expectProblem(await w.as("admin", "GET", "webhooks/local"), 404);

    const log = await w.as("admin", "GET", "changes");
    expect(log.status, log.text).toBe(200);
    const entries = (log.json as { items: { action: string; detail: string }[] }).items;
    expect(
      entries
        .filter((e) => e.action.startsWith("webhook."))
        .map((e) => e.action)
        .sort(),
    ).toEqual(["webhook.created", "webhook.deleted", "webhook.rotated", "webhook.updated"]);
    for (const secret of [sub.secret!, next.secret!]) expect(log.text).not.toContain(secret.slice("whsec_".length));
  });

  it.each([
    ["a private-range address", "https://10.1.2.3/hook", /10\.1\.2\.3, a private address/],
    ["the metadata address", "https://169.254.169.254/latest/meta-data", /linkLocal/],
    ["an IPv6 unique local address", "https://[fd00::1]/hook", /uniqueLocal/],
    ["a non-https URL to a public host", "http://hooks.example.com/hook", /must use https/],
    ["a private address over http", "http://192.168.0.10/hook", /192\.168\.0\.10, a private address/],
  ])("refuses %s with a 400 naming body.url, and stores nothing", async (_what, url, why) => {
    const w = await newWorld(stack);
    const r = await stack.api("PUT", `/api/environments/${w.envId}/webhooks/refused`, {
      token: w.adminToken,
      body: { url, eventTypes: ["sharing.grant.created"] },
    });
    const p = expectProblem(r, 400);
    expect(p.errors?.find((e) => e.field === "body.url")?.message).toMatch(why);
    const gone = await stack.api("GET", `/api/environments/${w.envId}/webhooks/refused`, { token: w.adminToken });
    expectProblem(gone, 404);
  });
});
