import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import type { ChangeEntry } from "../../shared/model/records.js";
import { cloudEventSchema, webhookEventTypes } from "../../shared/model/webhooks.js";
import { newWebhookSecret } from "../../shared/usecases/webhooks.js";
import {
  nextAttemptDelaySeconds,
  outcomeOf,
  retryAfterSeconds,
  retryDelaysSeconds,
} from "../../shared/webhooks/deliveries.js";
import { cloudEventOf, eventTypeOfAction } from "../../shared/webhooks/events.js";
import { signWebhook } from "../../shared/webhooks/signing.js";
import { independentlyVerified } from "../support/webhookReceiver.js";

const entry = (over: Partial<ChangeEntry> = {}): ChangeEntry => ({
  changeId: "01JCHANGE0000000000000001",
  at: "2026-12-03T10:00:00.000Z",
  actorId: "maker",
  action: "grant",
  resourceId: "p1",
  principal: { type: "user", id: "viewer" },
  role: "viewer",
  detail: "shared p1 with viewer as viewer",
  ...over,
});

describe("signWebhook", () => {
  const body = JSON.stringify(cloudEventOf("e1", entry()));
  const headers = (secrets: string[], at = new Date()) => ({ ...signWebhook("evt_1", at, body, secrets) });

  it("signs so that the standardwebhooks package and an independent HMAC both verify it", () => {
    const secret = newWebhookSecret();
    const h = headers([secret]);
    expect(h["webhook-id"]).toBe("evt_1");
    expect(h["webhook-timestamp"]).toMatch(/^\d{10}$/);
    expect(h["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(new Webhook(secret).verify(body, h)).toEqual(JSON.parse(body));
    expect(independentlyVerified(secret, h, body)).toBe(true);
  });

  it("fails both verifiers for another body, another id, another secret", () => {
    const secret = newWebhookSecret();
    const h = headers([secret]);
    const tampered = body.replace("viewer", "owner");
    expect(() => new Webhook(secret).verify(tampered, h)).toThrow(/No matching signature/);
    expect(independentlyVerified(secret, h, tampered)).toBe(false);
    expect(independentlyVerified(secret, { ...h, "webhook-id": "evt_2" }, body)).toBe(false);
    const other = newWebhookSecret();
    expect(() => new Webhook(other).verify(body, h)).toThrow(/No matching signature/);
    expect(independentlyVerified(other, h, body)).toBe(false);
  });

  it("during a rotation carries one signature per secret, each verifying with its own", () => {
    const [next, previous] = [newWebhookSecret(), newWebhookSecret()];
    const h = headers([next, previous]);
    expect(h["webhook-signature"].split(" ")).toHaveLength(2);
    for (const s of [next, previous]) {
      expect(new Webhook(s).verify(body, h)).toEqual(JSON.parse(body));
      expect(independentlyVerified(s, h, body)).toBe(true);
    }
  });

  it("is refused by the package's receiver when the timestamp is stale (replay)", () => {
    const secret = newWebhookSecret();
    const h = headers([secret], new Date(Date.now() - 10 * 60_000));
    expect(() => new Webhook(secret).verify(body, h)).toThrow(/too old/);
    // The HMAC itself still holds: staleness is the receiver's tolerance, not the signature.
    expect(independentlyVerified(secret, h, body)).toBe(true);
  });

  it("refuses to sign with no secret", () => {
    expect(() => signWebhook("evt_1", new Date(), body, [])).toThrow(/at least one secret/);
  });
});

describe("cloudEventOf", () => {
  it("builds a CloudEvents 1.0 JSON event from a grant entry, identified by the entry's id", () => {
    const event = cloudEventOf("e1", entry());
    expect(cloudEventSchema.parse(event)).toEqual({
      specversion: "1.0",
      id: "01JCHANGE0000000000000001",
      source: "/environments/e1",
      type: "sharing.grant.created",
      subject: "resources/p1",
      time: "2026-12-03T10:00:00.000Z",
      datacontenttype: "application/json",
      data: {
        actorId: "maker",
        resourceId: "p1",
        principal: { type: "user", id: "viewer" },
        role: "viewer",
        detail: "shared p1 with viewer as viewer",
      },
    });
    // Built again from the same entry (a relay that runs twice), it is the same event.
    expect(cloudEventOf("e1", entry())).toEqual(event);
  });

  it("names the user as the subject of an offboarding, and raises no event for directory changes", () => {
    const off = cloudEventOf("e1", entry({ action: "offboard", resourceId: undefined, role: undefined }));
    expect(off).toMatchObject({ type: "sharing.user.offboarded", subject: "users/viewer" });
    // A step of the run (one resource it changed) is not the event; the run's summary is.
    expect(cloudEventOf("e1", entry({ action: "offboard" }))).toBeUndefined();
    expect(cloudEventOf("e1", entry({ action: "membership.added" }))).toBeUndefined();
    expect(cloudEventOf("e1", entry({ action: "webhook.created" }))).toBeUndefined();
  });

  it("raises sharing.audit.completed about the audit for a finished audit's entry, its id the entry's", () => {
    const done = entry({
      changeId: "audit.a1",
      actorId: "system",
      action: "audit.completed",
      resourceId: undefined,
      principal: undefined,
      role: undefined,
      auditId: "a1",
      detail: "audit a1 done (scheduled): 6 resource(s), 10 grant(s), 3 finding(s): 1 high, 2 medium, 0 low",
    });
    expect(cloudEventSchema.parse(cloudEventOf("e1", done))).toEqual({
      specversion: "1.0",
      id: "audit.a1",
      source: "/environments/e1",
      type: "sharing.audit.completed",
      subject: "audits/a1",
      time: "2026-12-03T10:00:00.000Z",
      datacontenttype: "application/json",
      data: { actorId: "system", auditId: "a1", detail: done.detail },
    });
    expect(eventTypeOfAction["audit.completed"]).toBe("sharing.audit.completed");
  });

  it("raises sharing.review.completed about the instance, and a review's revoke as sharing.grant.revoked", () => {
    const done = entry({
      changeId: "review.r1.i1",
      actorId: "system",
      action: "review.completed",
      resourceId: undefined,
      principal: undefined,
      role: undefined,
      reviewId: "r1",
      instanceId: "i1",
      detail: "review r1 instance i1 completed: 3 item(s)",
    });
    expect(cloudEventSchema.parse(cloudEventOf("e1", done))).toEqual({
      specversion: "1.0",
      id: "review.r1.i1",
      source: "/environments/e1",
      type: "sharing.review.completed",
      subject: "reviews/r1/instances/i1",
      time: "2026-12-03T10:00:00.000Z",
      datacontenttype: "application/json",
      data: { actorId: "system", reviewId: "r1", instanceId: "i1", detail: done.detail },
    });
    const deny = cloudEventOf("e1", entry({ action: "review-deny", reviewId: "r1", instanceId: "i1" }));
    expect(deny).toMatchObject({
      type: "sharing.grant.revoked",
      subject: "resources/p1",
      data: { reviewId: "r1", instanceId: "i1" },
    });
  });

  it("maps actions only onto event types of the contract", () => {
    for (const t of Object.values(eventTypeOfAction)) expect(webhookEventTypes).toContain(t);
  });
});

describe("the delivery schedule", () => {
  it("retries after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 24 h, then stops", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => nextAttemptDelaySeconds(n))).toEqual([
      5, 300, 1800, 7200, 18000, 36000, 86400,
    ]);
    expect(nextAttemptDelaySeconds(8)).toBeUndefined();
    expect(retryDelaysSeconds).toHaveLength(7);
  });

  it("honours Retry-After in place of the schedule, longer or shorter, between 5 s and a day", () => {
    expect(nextAttemptDelaySeconds(1, 120)).toBe(120);
    expect(nextAttemptDelaySeconds(3, 10)).toBe(10);
    expect(nextAttemptDelaySeconds(2, 0)).toBe(5);
    expect(nextAttemptDelaySeconds(2, 7 * 86400)).toBe(86400);
    // The schedule still ends the retries, whatever the receiver asks.
    expect(nextAttemptDelaySeconds(8, 10)).toBeUndefined();
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = new Date("2026-12-03T10:00:00Z");
    expect(retryAfterSeconds("120", now)).toBe(120);
    expect(retryAfterSeconds("Thu, 03 Dec 2026 10:02:00 GMT", now)).toBe(120);
    expect(retryAfterSeconds("Thu, 03 Dec 2026 09:00:00 GMT", now)).toBe(0);
    expect(retryAfterSeconds("soon", now)).toBeUndefined();
    expect(retryAfterSeconds("-5", now)).toBeUndefined();
    expect(retryAfterSeconds(null, now)).toBeUndefined();
  });

  it.each([
    [200, "delivered"],
    [204, "delivered"],
    [299, "delivered"],
    [301, "retry"],
    [400, "retry"],
    [410, "disable"],
    [429, "retry"],
    [500, "retry"],
  ] as const)("an answer %i means %s", (status, outcome) => {
    expect(outcomeOf(status)).toBe(outcome);
  });
});
