import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import type { WebhookEventType } from "../../shared/model/webhooks.js";
import type { DeliverWebhook } from "../../shared/ports/webhookTargets.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import { putResource } from "../../shared/usecases/resources.js";
import { share } from "../../shared/usecases/sharing.js";
import {
  handleWebhookMessage,
  listWebhookDeliveries,
  redeliverWebhook,
  sendTestEvent,
} from "../../shared/usecases/webhookDelivery.js";
import { putWebhookSubscription } from "../../shared/usecases/webhooks.js";
import type { AttemptResult } from "../../shared/webhooks/deliveries.js";
import { memoryCaps, seedDirectory } from "../support/memoryCaps.js";
import { independentlyVerified } from "../support/webhookReceiver.js";
import type { WebhookHeaders } from "../../shared/webhooks/signing.js";

const app: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
const maker: Caller = { principalId: "maker", appRoles: [] };

interface Posted {
  url: string;
  body: string;
  headers: WebhookHeaders;
}

/**
 * An environment with a resource, subscriptions made through the use case, and a receiver whose
 * answers are scripted: each attempt takes the next answer, the last one repeating.
 */
async function world(subscriptions: Record<string, WebhookEventType[]>, answers: AttemptResult[] = [ok]) {
  const m = memoryCaps();
  await seedDirectory(m.caps, "e1", [
    ["maker", true, ["EnvironmentMaker"]],
    ["viewer", true, ["BasicUser"]],
    ["third", true, ["BasicUser"]],
  ]);
  await putResource(
    m.caps,
    app,
    "e1",
    "p1",
    { kind: "processMining", displayName: "P1", creatorId: "maker" },
    undefined,
  );
  const secrets: Record<string, string> = {};
  for (const [id, eventTypes] of Object.entries(subscriptions)) {
    const r = await putWebhookSubscription(m.caps, app, "e1", id, {
      url: `https://hooks.example.com/${id}`,
      eventTypes,
    });
    if (r.created) secrets[id] = r.subscription.secret;
  }
  const posted: Posted[] = [];
  const script = [...answers];
  const deliver: DeliverWebhook = async (a) => {
    posted.push({ url: a.url, body: a.body, headers: { ...a.headers } });
    return script.length > 1 ? script.shift()! : script[0]!;
  };
  m.caps.deliverWebhook = deliver;
  // What setup queued (the resource's creation event) is not what these tests look at.
  m.webhooks.length = 0;
  return { ...m, posted, secrets };
}

const ok: AttemptResult = { outcome: "delivered", status: 204 };
const serverError = (retryAfter?: number): AttemptResult => ({
  outcome: "retry",
  status: 500,
  response: "boom",
  ...(retryAfter !== undefined ? { retryAfter } : {}),
});

const shareViewer = (caps: Parameters<typeof share>[0]) =>
  share(caps, maker, "e1", "p1", {
    role: "viewer",
    principals: [{ type: "user", id: "viewer" }],
    sendInvitation: false,
  });

describe("webhook delivery", () => {
  it("sends a committed change's event to each enabled subscription that wants its type, signed so both verifiers accept it", async () => {
    const w = await world({ grants: ["sharing.grant.created"], copies: ["sharing.copy.sent"] });
    await shareViewer(w.caps);
    // The relay queued the event beside the change log entry: one message, whatever the subscriptions.
    expect(w.webhooks.map((m) => m.message.kind)).toEqual(["event"]);
    await w.drainWebhooks();
    expect(w.posted.map((p) => p.url)).toEqual(["https://hooks.example.com/grants"]);
    const [p] = w.posted;
    const event = JSON.parse(p!.body) as { id: string; type: string; source: string; data: { principal: unknown } };
    expect(event).toMatchObject({
      specversion: "1.0",
      type: "sharing.grant.created",
      source: "/environments/e1",
      subject: "resources/p1",
      data: { principal: { type: "user", id: "viewer" }, role: "viewer" },
    });
    expect(p!.headers["webhook-id"]).toBe(event.id);
    // The standardwebhooks package verifies it, and so does HMAC-SHA256 written out by hand.
    expect(new Webhook(w.secrets.grants!).verify(p!.body, p!.headers)).toEqual(JSON.parse(p!.body));
    expect(independentlyVerified(w.secrets.grants!, p!.headers, p!.body)).toBe(true);

    const log = await listWebhookDeliveries(w.caps, app, "e1", "grants", {});
    expect(log.items).toEqual([
      expect.objectContaining({
        eventId: event.id,
        eventType: "sharing.grant.created",
        status: "delivered",
        attempts: 1,
        lastStatus: 204,
      }),
    ]);
    expect(log.items[0]).not.toHaveProperty("event");
    expect((await listWebhookDeliveries(w.caps, app, "e1", "copies", {})).items).toEqual([]);
  });

  it("does nothing more for a repeated event message: one delivery, one post", async () => {
    const w = await world({ grants: ["sharing.grant.created"] });
    await shareViewer(w.caps);
    const [event] = w.webhooks.map((m) => m.message);
    w.webhooks.push({ message: event!, delaySeconds: 0 });
    await w.drainWebhooks();
    expect(w.posted).toHaveLength(1);
    expect((await listWebhookDeliveries(w.caps, app, "e1", "grants", {})).items).toHaveLength(1);
  });

  it("retries a failure with the same webhook-id after the schedule's wait or the receiver's Retry-After, then records it delivered", async () => {
    const w = await world({ grants: ["sharing.grant.created"] }, [serverError(), serverError(1), ok]);
    await shareViewer(w.caps);
    const delays = await w.drainWebhooks();
    // The event, the first attempt at once, the second after 5 s, the third after Retry-After: 1 raised to 5 s.
    expect(delays).toEqual([0, 0, 5, 5]);
    expect(new Set(w.posted.map((p) => p.headers["webhook-id"])).size).toBe(1);
    expect(w.posted).toHaveLength(3);
    const [d] = (await listWebhookDeliveries(w.caps, app, "e1", "grants", {})).items;
    expect(d).toMatchObject({ status: "delivered", attempts: 3, lastStatus: 204 });
    expect(d).not.toHaveProperty("lastResponse");
    expect(d).not.toHaveProperty("nextAttemptAt");
  });

  it("keeps a failed attempt's status and first answer, and the time of the next attempt", async () => {
    const w = await world({ grants: ["sharing.grant.created"] }, [serverError(120)]);
    await shareViewer(w.caps);
    // The event and the first attempt; the second waits in the queue for its delay.
    await handleWebhookMessage(w.caps, w.webhooks.shift()!.message, { dequeueCount: 1 });
    await handleWebhookMessage(w.caps, w.webhooks.shift()!.message, { dequeueCount: 1 });
    expect(w.webhooks).toEqual([
      { message: expect.objectContaining({ kind: "attempt", attempt: 2 }), delaySeconds: 120 },
    ]);
    const [d] = (await listWebhookDeliveries(w.caps, app, "e1", "grants", {})).items;
    expect(d).toMatchObject({ status: "pending", attempts: 1, lastStatus: 500, lastResponse: "boom" });
    expect(Date.parse(d!.nextAttemptAt!) - Date.parse(d!.lastAttemptAt!)).toBe(120_000);
  });

  it("gives up after the first attempt and 7 retries, and marks the delivery failed", async () => {
    const w = await world({ grants: ["sharing.grant.created"] }, [serverError()]);
    await shareViewer(w.caps);
    const delays = await w.drainWebhooks();
    expect(delays).toEqual([0, 0, 5, 300, 1800, 7200, 18000, 36000, 86400]);
    expect(w.posted).toHaveLength(8);
    const [d] = (await listWebhookDeliveries(w.caps, app, "e1", "grants", {})).items;
    expect(d).toMatchObject({ status: "failed", attempts: 8, lastStatus: 500 });
  });

  it("runs an attempt message once: a duplicate finds the attempt made and posts nothing", async () => {
    const w = await world({ grants: ["sharing.grant.created"] });
    await shareViewer(w.caps);
    await handleWebhookMessage(w.caps, w.webhooks.shift()!.message, { dequeueCount: 1 });
    const attempt = w.webhooks.shift()!.message;
    await handleWebhookMessage(w.caps, attempt, { dequeueCount: 1 });
    const said = await handleWebhookMessage(w.caps, attempt, { dequeueCount: 1 });
    expect(said).toMatch(/already delivered/);
    expect(w.posted).toHaveLength(1);
  });

  it("queues the next attempt again when the message comes back after its send failed, without posting twice", async () => {
    const w = await world({ grants: ["sharing.grant.created"] }, [serverError(), ok]);
    await shareViewer(w.caps);
    await handleWebhookMessage(w.caps, w.webhooks.shift()!.message, { dequeueCount: 1 });
    const attempt = w.webhooks.shift()!.message;
    const send = w.caps.webhookQueue.send;
    w.caps.webhookQueue.send = () => Promise.reject(new Error("queue down"));
    await expect(handleWebhookMessage(w.caps, attempt, { dequeueCount: 1 })).rejects.toThrow(/queue down/);
    w.caps.webhookQueue.send = send;
    expect(w.webhooks).toEqual([]);
    // The host delivers the message again: the attempt is recorded, so only the next one is queued.
    await handleWebhookMessage(w.caps, attempt, { dequeueCount: 2 });
    expect(w.posted).toHaveLength(1);
    expect(w.webhooks).toEqual([
      { message: expect.objectContaining({ attempt: 2 }), delaySeconds: expect.closeTo(5, 0) as number },
    ]);
    await w.drainWebhooks();
    expect(w.posted).toHaveLength(2);
    expect((await listWebhookDeliveries(w.caps, app, "e1", "grants", {})).items[0]).toMatchObject({
      status: "delivered",
      attempts: 2,
    });
  });

  it("queues the first attempt again when an event message comes back after writing its delivery", async () => {
    const w = await world({ grants: ["sharing.grant.created"] });
    await shareViewer(w.caps);
    const event = w.webhooks.shift()!.message;
    const send = w.caps.webhookQueue.send;
    w.caps.webhookQueue.send = () => Promise.reject(new Error("queue down"));
    await expect(handleWebhookMessage(w.caps, event, { dequeueCount: 1 })).rejects.toThrow(/queue down/);
    w.caps.webhookQueue.send = send;
    await handleWebhookMessage(w.caps, event, { dequeueCount: 2 });
    await w.drainWebhooks();
    expect(w.posted).toHaveLength(1);
  });

  it("disables a subscription whose receiver answers 410, logs it, and delivers nothing more until a PUT enables it", async () => {
    const w = await world({ grants: ["sharing.grant.created"] }, [{ outcome: "disable", status: 410 }, ok]);
    await shareViewer(w.caps);
    await w.drainWebhooks();
    const { subscriptions } = await w.caps.repo.webhooks.page("e1", undefined, 10);
    expect(subscriptions[0]).toMatchObject({ disabledAt: expect.any(String) as string });
    expect((await listWebhookDeliveries(w.caps, app, "e1", "grants", {})).items[0]).toMatchObject({
      status: "failed",
      attempts: 1,
      lastStatus: 410,
    });
    const changes = await w.caps.repo.environmentChanges("e1", undefined, 100);
    expect(changes.items.filter((e) => e.action === "webhook.disabled")).toHaveLength(1);

    const shareThird = (role: "coOwner" | "viewer") =>
      share(w.caps, maker, "e1", "p1", { role, principals: [{ type: "user", id: "third" }], sendInvitation: false });
    await shareThird("viewer");
    await w.drainWebhooks();
    expect(w.posted).toHaveLength(1);
    await expect(sendTestEvent(w.caps, app, "e1", "grants")).rejects.toMatchObject({ code: "conflict" });

    const enabled = await putWebhookSubscription(w.caps, app, "e1", "grants", {
      url: "https://hooks.example.com/grants",
      eventTypes: ["sharing.grant.created"],
    });
    expect(enabled.subscription).not.toHaveProperty("disabledAt");
    await shareThird("coOwner");
    await w.drainWebhooks();
    expect(w.posted).toHaveLength(2);
    expect(JSON.parse(w.posted[1]!.body)).toMatchObject({ data: { principal: { id: "third" }, role: "coOwner" } });
  });

  it("marks a delivery failed, posting nothing, when its subscription was deleted meanwhile", async () => {
    const w = await world({ grants: ["sharing.grant.created"] });
    await shareViewer(w.caps);
    await handleWebhookMessage(w.caps, w.webhooks.shift()!.message, { dequeueCount: 1 });
    const { deleteWebhookSubscription } = await import("../../shared/usecases/webhooks.js");
    await deleteWebhookSubscription(w.caps, app, "e1", "grants");
    const said = await handleWebhookMessage(w.caps, w.webhooks.shift()!.message, { dequeueCount: 1 });
    expect(said).toMatch(/deleted/);
    expect(w.posted).toEqual([]);
  });

  it("sends a test event to one subscription whatever its types, and answers with the first attempt", async () => {
    const w = await world({ copies: ["sharing.copy.sent"] }, [serverError()]);
    const d = await sendTestEvent(w.caps, app, "e1", "copies");
    expect(d).toMatchObject({ eventType: "sharing.webhook.test", status: "pending", attempts: 1, lastStatus: 500 });
    expect(JSON.parse(w.posted[0]!.body)).toMatchObject({ type: "sharing.webhook.test", subject: "webhooks/copies" });
    // Retried like any delivery.
    expect(w.webhooks).toEqual([{ message: expect.objectContaining({ attempt: 2 }), delaySeconds: 5 }]);
    await expect(sendTestEvent(w.caps, maker, "e1", "copies")).rejects.toMatchObject({ code: "forbidden" });
    await expect(sendTestEvent(w.caps, app, "e1", "nope")).rejects.toMatchObject({ code: "notFound" });
  });

  it("redelivers a delivered or failed delivery with the same webhook-id; 409 while retries are under way; 404 when unknown", async () => {
    const w = await world({ grants: ["sharing.grant.created"] }, [serverError(), ok]);
    await shareViewer(w.caps);
    await handleWebhookMessage(w.caps, w.webhooks.shift()!.message, { dequeueCount: 1 });
    await handleWebhookMessage(w.caps, w.webhooks.shift()!.message, { dequeueCount: 1 });
    const [d] = (await listWebhookDeliveries(w.caps, app, "e1", "grants", {})).items;
    await expect(redeliverWebhook(w.caps, app, "e1", "grants", d!.deliveryId)).rejects.toMatchObject({
      code: "conflict",
    });
    await w.drainWebhooks();
    const again = await redeliverWebhook(w.caps, app, "e1", "grants", d!.deliveryId);
    expect(again).toMatchObject({ status: "pending", attempts: 0, redeliveries: 1 });
    await w.drainWebhooks();
    expect(w.posted).toHaveLength(3);
    expect(new Set(w.posted.map((p) => p.headers["webhook-id"])).size).toBe(1);
    expect((await listWebhookDeliveries(w.caps, app, "e1", "grants", {})).items[0]).toMatchObject({
      status: "delivered",
      attempts: 1,
      redeliveries: 1,
    });
    await expect(redeliverWebhook(w.caps, app, "e1", "grants", "0000.nope")).rejects.toMatchObject({
      code: "notFound",
    });
    await expect(redeliverWebhook(w.caps, maker, "e1", "grants", d!.deliveryId)).rejects.toMatchObject({
      code: "forbidden",
    });
  });

  it("ignores an attempt message left from before a redelivery", async () => {
    const w = await world({ grants: ["sharing.grant.created"] }, [serverError(), ok]);
    await shareViewer(w.caps);
    await handleWebhookMessage(w.caps, w.webhooks.shift()!.message, { dequeueCount: 1 });
    await handleWebhookMessage(w.caps, w.webhooks.shift()!.message, { dequeueCount: 1 });
    const second = w.webhooks.shift()!.message; // attempt 2, due in 5 s
    await handleWebhookMessage(w.caps, second, { dequeueCount: 1 });
    const [d] = (await listWebhookDeliveries(w.caps, app, "e1", "grants", {})).items;
    await redeliverWebhook(w.caps, app, "e1", "grants", d!.deliveryId);
    // The old attempt 2 arrives again after the redelivery reset the row to attempt 0: stale.
    expect(await handleWebhookMessage(w.caps, second, { dequeueCount: 1 })).toMatch(/stale/);
    await w.drainWebhooks();
    expect(w.posted).toHaveLength(3);
  });
});
