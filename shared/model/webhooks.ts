import { z } from "zod";
import { idSchema, principalRefSchema, roleSchema } from "./records.js";

/** The event types of the contract (api.md, "Events for integrations (webhooks)"). */
export const webhookEventTypes = [
  "sharing.grant.created",
  "sharing.grant.revoked",
  "sharing.grant.expired",
  "sharing.grant.expiring",
  "sharing.invitation.accepted",
  "sharing.resource.created",
  "sharing.resource.deleted",
  "sharing.owner.changed",
  "sharing.copy.sent",
  "sharing.audit.completed",
  "sharing.review.completed",
  "sharing.user.offboarded",
] as const;
export const webhookEventTypeSchema = z.enum(webhookEventTypes);
export type WebhookEventType = z.infer<typeof webhookEventTypeSchema>;

/**
 * The event `POST .../webhooks/{id}/test` sends: to that subscription only, whatever types it
 * subscribed to, so it is not one a subscription can name.
 */
export const webhookTestEventType = "sharing.webhook.test";

/** Every type an event may carry: the contract's, and the test event. */
export const deliveredEventTypes = [...webhookEventTypes, webhookTestEventType] as const;
export const deliveredEventTypeSchema = z.enum(deliveredEventTypes);
export type DeliveredEventType = z.infer<typeof deliveredEventTypeSchema>;

/**
 * Subscriptions an environment may hold. Every event reads them all (one range of at most this many
 * rows), and each adds a delivery per event, so the number stays small.
 */
export const maxWebhookSubscriptions = 10;

/** How long a rotated-out secret still signs deliveries, beside the new one (Standard Webhooks allows several signatures). */
export const previousSecretHours = 24;

/** A Standard Webhooks secret: `whsec_` and the base64 of the key bytes (24 to 64 of them). */
export const webhookSecretSchema = z.string().regex(/^whsec_[A-Za-z0-9+/]{32,88}={0,2}$/);

const isoTime = z.string().datetime({ offset: true });

/**
 * A subscription as stored, in the environment's `Directory` partition. The secrets are kept as they
 * are, not hashed, since delivery needs them to sign (HMAC): see docs/webhooks.md for how they are
 * protected at rest.
 */
export const webhookSubscriptionRecordSchema = z.object({
  envId: idSchema,
  subscriptionId: idSchema,
  url: z.string().max(2000),
  eventTypes: z.array(webhookEventTypeSchema).min(1).max(webhookEventTypes.length),
  description: z.string().max(200).optional(),
  secret: webhookSecretSchema,
  /** The secret `rotate` replaced, still signing beside the new one until `previousSecretExpiresAt`. */
  previousSecret: webhookSecretSchema.optional(),
  previousSecretExpiresAt: isoTime.optional(),
  createdAt: isoTime,
  createdBy: idSchema,
  updatedAt: isoTime,
  secretRotatedAt: isoTime.optional(),
  /**
   * Set when a receiver answered `410 Gone`: nothing is delivered until a `PUT` enables it again.
   * `disabledReason` says which delivery it was.
   */
  disabledAt: isoTime.optional(),
  disabledReason: z.string().max(500).optional(),
});
export type WebhookSubscriptionRecord = z.infer<typeof webhookSubscriptionRecordSchema>;

export const webhookParams = z.object({ envId: idSchema, subscriptionId: idSchema });

export const webhookBody = z
  .object({
    /** Checked beyond its form by the SSRF guard: https, and a public address. */
    url: z.string().min(1).max(2000),
    eventTypes: z
      .array(webhookEventTypeSchema)
      .min(1)
      .max(webhookEventTypes.length)
      .refine((t) => new Set(t).size === t.length, "must not name an event type twice"),
    description: z.string().max(200).optional(),
  })
  .strict();
export type WebhookBody = z.infer<typeof webhookBody>;

/** A subscription as the routes show it: never its secrets. */
export const webhookSubscriptionView = webhookSubscriptionRecordSchema
  .omit({ secret: true, previousSecret: true })
  .describe("A webhook subscription (its signing secrets are never shown after they are issued)");
export type WebhookSubscriptionView = z.infer<typeof webhookSubscriptionView>;

/** The answer that issues a secret (creation, rotation): the only time it is shown. */
export const webhookSubscriptionWithSecret = webhookSubscriptionView.extend({
  /** Standard Webhooks form: `whsec_` and base64; verify signatures with it. Shown this once. */
  secret: webhookSecretSchema,
});
export type WebhookSubscriptionWithSecret = z.infer<typeof webhookSubscriptionWithSecret>;

/**
 * An event as delivered: CloudEvents 1.0 in its JSON form (platform-facts.md, "Webhooks"). `source`
 * and `id` identify it, so a receiver drops a repeat (the same `id` is the `webhook-id` on every
 * retry).
 */
export const cloudEventSchema = z.object({
  specversion: z.literal("1.0"),
  /** The change log entry's id: one event per committed change. */
  id: z.string().min(1).max(80),
  /** `/environments/{envId}`. */
  source: z.string().min(1),
  type: deliveredEventTypeSchema,
  /** What the event is about, relative to `source`: `resources/{resourceId}`, `users/{userId}`, `audits/{auditId}`, `reviews/{reviewId}/instances/{instanceId}`. */
  subject: z.string().optional(),
  time: isoTime,
  datacontenttype: z.literal("application/json"),
  data: z.object({
    actorId: idSchema,
    resourceId: idSchema.optional(),
    principal: principalRefSchema.optional(),
    role: roleSchema.optional(),
    /** `sharing.audit.completed`: the audit (`GET .../audits/{auditId}` reads its report). */
    auditId: idSchema.optional(),
    /** `sharing.review.completed` and a review's revokes: the review and its instance. */
    reviewId: idSchema.optional(),
    instanceId: idSchema.optional(),
    /** The change log entry's own words. */
    detail: z.string(),
  }),
});
export type CloudEvent = z.infer<typeof cloudEventSchema>;
