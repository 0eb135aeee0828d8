import { z } from "zod";
import { idSchema } from "../model/records.js";
import { cloudEventSchema, deliveredEventTypeSchema, type CloudEvent } from "../model/webhooks.js";

/**
 * The delivery log's model and the contract's retry schedule (api.md, "Events for integrations"),
 * as pure data and functions: the queue-triggered delivery (`usecases/webhookDelivery.ts`) records
 * each attempt in a delivery row and asks `nextAttemptDelaySeconds` when to try again.
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
 * schedule is spent. A receiver's `Retry-After` is honoured in place of the schedule's wait, whether
 * longer or shorter (the receiver knows when it will be back), but never below the schedule's
 * shortest wait (no hot loop on `Retry-After: 0`) nor above a day, its longest.
 */
export function nextAttemptDelaySeconds(failedAttempts: number, retryAfter?: number): number | undefined {
  const scheduled = retryDelaysSeconds[failedAttempts - 1];
  if (scheduled === undefined) return undefined;
  if (retryAfter === undefined) return scheduled;
  return Math.min(Math.max(retryAfter, retryDelaysSeconds[0]), retryDelaysSeconds[retryDelaysSeconds.length - 1]!);
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
  eventType: deliveredEventTypeSchema,
  status: z.enum(["pending", "delivered", "failed"]),
  /** Attempts made since the delivery was created or last redelivered. */
  attempts: z.number().int().min(0),
  createdAt: z.string().datetime({ offset: true }),
  /** How many times `POST .../redeliver` started it over. */
  redeliveries: z.number().int().min(0).optional(),
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

/** A delivery as stored: what the routes show, and the event it sends (the same bytes on every attempt). */
export const webhookDeliveryRecordSchema = webhookDeliverySchema.extend({ event: cloudEventSchema });
export type WebhookDeliveryRecord = z.infer<typeof webhookDeliveryRecordSchema>;

/** What one delivery attempt came to, for the delivery row and the retry decision. */
export interface AttemptResult {
  outcome: AttemptOutcome;
  /** The receiver's status; absent when it never answered. */
  status?: number;
  /** Why no answer counted: the guard's refusal, a timeout, a network error. */
  error?: string;
  /** The first KiB of a failed answer's body. */
  response?: string;
  /** The receiver's `Retry-After`, in seconds. */
  retryAfter?: number;
}

const maxTimeMs = 8_640_000_000_000_000;

/**
 * A delivery's id: the event's time counted down, then the event's id. The same event to the same
 * subscription always gets the same id (so a repeated event message finds its delivery already
 * there), and ids sort newest first, the order `GET .../deliveries` pages in.
 */
export function deliveryIdOf(event: Pick<CloudEvent, "id" | "time">): string {
  const newestFirst = (maxTimeMs - Date.parse(event.time)).toString(36).padStart(11, "0");
  const eventId = /^[A-Za-z0-9._-]{1,80}$/.test(event.id) ? event.id : Buffer.from(event.id).toString("base64url");
  return `${newestFirst}.${eventId}`.slice(0, 128);
}
