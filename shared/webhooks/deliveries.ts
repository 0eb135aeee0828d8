import { z } from "zod";
import { idSchema } from "../model/records.js";
import { webhookEventTypeSchema } from "../model/webhooks.js";

/**
 * The delivery log's model and the contract's retry schedule (api.md, "Events for integrations"),
 * as pure data and functions: the queue-triggered delivery (not built yet) records each attempt in
 * a delivery row and asks `nextAttemptDelay` when to try again.
 */

/** Waits after the 1st, 2nd, … failed attempt; after the last the delivery is marked failed. */
export const retryDelaysSeconds = [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 24 * 3600] as const;

/** A receiver gets this long to answer an attempt. */
export const deliveryTimeoutMs = 15_000;

/** Of a failed attempt's answer, this much of the body is kept (receivers' error pages can be large). */
export const keptResponseChars = 1024;

/**
 * A `Retry-After` header's wait in seconds (delta-seconds, or an HTTP date relative to `now`), or
 * undefined when absent or unreadable. Never negative.
 */
export function retryAfterSeconds(header: string | null | undefined, now: Date): number | undefined {
  if (header === null || header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (Number.isNaN(at) || !/[a-z]/i.test(text)) return undefined;
  return Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

/**
 * How long to wait before the next attempt after `failedAttempts` failures, or undefined when the
 * schedule is spent. A receiver's `Retry-After` is honoured when it asks for longer than the
 * schedule (never shorter: the schedule protects receivers from a hot loop), capped at a day, the
 * schedule's longest wait.
 */
export function nextAttemptDelaySeconds(failedAttempts: number, retryAfter?: number): number | undefined {
  const scheduled = retryDelaysSeconds[failedAttempts - 1];
  if (scheduled === undefined) return undefined;
  return Math.min(Math.max(scheduled, retryAfter ?? 0), retryDelaysSeconds[retryDelaysSeconds.length - 1]!);
}

/** What became of one delivery attempt's answer. */
export type AttemptOutcome = "delivered" | "retry" | "disable";

/** Only 2xx is success; `410 Gone` disables the subscription (the receiver says it is gone for good). */
export function outcomeOf(status: number): AttemptOutcome {
  if (status >= 200 && status < 300) return "delivered";
  if (status === 410) return "disable";
  return "retry";
}

/** One event to one subscription, as `GET .../deliveries` lists it. */
export const webhookDeliverySchema = z.object({
  deliveryId: idSchema,
  envId: idSchema,
  subscriptionId: idSchema,
  /** The event's id: `webhook-id` on every attempt. */
  eventId: z.string().min(1).max(80),
  eventType: webhookEventTypeSchema,
  status: z.enum(["pending", "delivered", "failed"]),
  attempts: z.number().int().min(0),
  lastAttemptAt: z.string().datetime({ offset: true }).optional(),
  /** The receiver's last HTTP status; absent when it never answered (timeout, refused connection, guard). */
  lastStatus: z.number().int().optional(),
  /** Why the last attempt failed, in our words (timeout, the guard's refusal, a network error). */
  lastError: z.string().max(500).optional(),
  /** The first `keptResponseChars` of a failed answer's body. */
  lastResponse: z.string().max(keptResponseChars).optional(),
  nextAttemptAt: z.string().datetime({ offset: true }).optional(),
});
export type WebhookDelivery = z.infer<typeof webhookDeliverySchema>;
