/**
 * Webhook subscription rows under concurrent writers, on the in-memory fake and on Azurite alike:
 * the ETag and insert semantics the use cases rely on.
 */
import { describe, expect, it } from "vitest";
import { ConcurrencyError } from "../../shared/errors.js";
import type { WebhookSubscriptionRecord } from "../../shared/model/webhooks.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import { listChanges } from "../../shared/usecases/changes.js";
import { putWebhookSubscription, rotateWebhookSecret } from "../../shared/usecases/webhooks.js";
import { backends, quietCaps } from "../support/backends.js";
import { seedDirectory } from "../support/memoryCaps.js";

const admin: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };

describe.each(backends())("webhook subscriptions on '$name'", (backend) => {
  async function world() {
    // Literal loopback addresses only: no DNS in these tests.
    const caps = quietCaps(backend.make(), { allowLoopbackHttp: true });
    await seedDirectory(caps, "e1", []);
    return caps;
  }
  const body = { url: "http://127.0.0.1:9/hook", eventTypes: ["sharing.grant.created" as const] };
  const record = (over: Partial<WebhookSubscriptionRecord> = {}): WebhookSubscriptionRecord => ({
    envId: "e1",
    subscriptionId: "s1",
    url: body.url,
    eventTypes: body.eventTypes,
    secret: `whsec_${Buffer.alloc(32, 1).toString("base64")}`,
    createdAt: new Date().toISOString(),
    createdBy: "app",
    updatedAt: new Date().toISOString(),
    ...over,
  });

  it("refuses a second insert of one id and a replace under a stale ETag", async () => {
    const caps = await world();
    await caps.repo.webhooks.insert(record(), []);
    await expect(caps.repo.webhooks.insert(record(), [])).rejects.toBeInstanceOf(ConcurrencyError);
    const read = (await caps.repo.webhooks.get("e1", "s1"))!;
    await caps.repo.webhooks.replace(record({ description: "first" }), read.etag, []);
    await expect(caps.repo.webhooks.replace(record({ description: "second" }), read.etag, [])).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    expect((await caps.repo.webhooks.get("e1", "s1"))!.record.description).toBe("first");
    await caps.repo.webhooks.delete("e1", "s1", []);
    await expect(caps.repo.webhooks.delete("e1", "s1", [])).rejects.toBeInstanceOf(ConcurrencyError);
  });

  it("creates one subscription, one secret and one log entry when admins PUT the same id at once", async () => {
    const caps = await world();
    const answers = await Promise.all(
      [1, 2, 3].map((n) => putWebhookSubscription(caps, admin, "e1", "same", { ...body, description: `n${n}` })),
    );
    const created = answers.filter((a) => a.created);
    expect(created).toHaveLength(1);
    const stored = (await caps.repo.webhooks.get("e1", "same"))!.record;
    expect(stored.secret).toBe(created[0]!.created ? created[0]!.subscription.secret : undefined);
    const log = await listChanges(caps, admin, "e1", {});
    expect(log.items.filter((e) => e.action === "webhook.created")).toHaveLength(1);
  });

  it("keeps each of two concurrent rotations: the latest secret signs beside the one before it", async () => {
    const caps = await world();
    const first = await putWebhookSubscription(caps, admin, "e1", "rot", body);
    expect(first.created).toBe(true);
    const [a, b] = await Promise.all([
      rotateWebhookSecret(caps, admin, "e1", "rot"),
      rotateWebhookSecret(caps, admin, "e1", "rot"),
    ]);
    const stored = (await caps.repo.webhooks.get("e1", "rot"))!.record;
    // One rotation landed on the other: the stored pair is (the later, the earlier), each issued once.
    expect([a.secret, b.secret]).toContain(stored.secret);
    expect([a.secret, b.secret]).toContain(stored.previousSecret);
    expect(stored.secret).not.toBe(stored.previousSecret);
    const log = await listChanges(caps, admin, "e1", {});
    expect(log.items.filter((e) => e.action === "webhook.rotated")).toHaveLength(2);
  });
});
