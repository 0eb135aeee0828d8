import { ConcurrencyError, conflict, notFound } from "../errors.js";
import {
  maxWebhookSubscriptions,
  webhookTestEventType,
  type CloudEvent,
  type WebhookSubscriptionRecord,
} from "../model/webhooks.js";
import { keys } from "../store/keys.js";
import {
  deliveryIdOf,
  nextAttemptDelaySeconds,
  type AttemptResult,
  type WebhookDelivery,
  type WebhookDeliveryRecord,
} from "../webhooks/deliveries.js";
import type { WebhookMessage } from "../webhooks/messages.js";
import { signWebhook } from "../webhooks/signing.js";
import { requireEnvironmentAdmin } from "./adminGate.js";
import type { Caller, Capabilities } from "./capabilities.js";
import { logItem, outboxItems } from "./mutate.js";
import { continuationOf, page, topOf, type Page, type PageQuery } from "./reads.js";
import { relayNow } from "./relay.js";
import { signingSecrets } from "./webhooks.js";

/**
 * Delivering webhook events (contract v2, "Events for integrations"), off the request path:
 *
 * 1. The relay, as it writes a committed change's log entry, sends its event to the webhook queue
 *    (`sendEvents` in `relay.ts`): events only ever come from changes that committed.
 * 2. The trigger makes one delivery row per enabled subscription that wants the type and queues its
 *    first attempt (`fanOutEvent`). The row's id comes from the event, so a repeated event message
 *    finds the row there and does nothing.
 * 3. Each attempt (`runAttempt`) signs and posts the event; the row records it, and a failure queues
 *    the next attempt with the schedule's wait as the message's visibility delay. A message runs
 *    only when it is the attempt the row expects, so duplicates and stale messages (a redelivery
 *    started the row over) do nothing; a message that failed mid-way and comes back finishes what
 *    the first run left undone. The receiver sees the same `webhook-id` on every attempt.
 */
type Deps = Pick<
  Capabilities,
  | "repo"
  | "webhookDeliveries"
  | "webhookQueue"
  | "deliverWebhook"
  | "emailQueue"
  | "fanoutQueue"
  | "clock"
  | "newId"
  | "log"
>;

/** Who the change log names for what delivery itself did (a receiver's 410 disabling its subscription). */
const deliveryActor: Caller = { principalId: "webhook-delivery", appRoles: [] };

/**
 * Handles one webhook queue message; returns what it did, for the log. Throws when storage or the
 * queue fails, so the host redelivers the message (`dequeueCount` then tells it came back).
 */
export async function handleWebhookMessage(
  deps: Deps,
  message: WebhookMessage,
  meta: { dequeueCount: number },
): Promise<string> {
  const redelivered = meta.dequeueCount > 1;
  if (message.kind === "event") return fanOutEvent(deps, message.envId, message.event, redelivered);
  const r = await runAttempt(deps, message, redelivered);
  return `delivery ${message.deliveryId} to ${message.subscriptionId}, attempt ${message.attempt}: ${r.said}`;
}

function newDelivery(envId: string, subscriptionId: string, event: CloudEvent, now: Date): WebhookDeliveryRecord {
  return {
    deliveryId: deliveryIdOf(event),
    envId,
    subscriptionId,
    eventId: event.id,
    eventType: event.type,
    status: "pending",
    attempts: 0,
    createdAt: now.toISOString(),
    event,
  };
}

type AttemptMessage = Extract<WebhookMessage, { kind: "attempt" }>;

const attemptMessage = (d: WebhookDeliveryRecord, attempt: number): AttemptMessage => ({
  kind: "attempt",
  envId: d.envId,
  subscriptionId: d.subscriptionId,
  deliveryId: d.deliveryId,
  attempt,
});

/** One delivery per enabled subscription that wants the event's type, each with its first attempt queued. */
async function fanOutEvent(deps: Deps, envId: string, event: CloudEvent, redelivered: boolean): Promise<string> {
  // One query of at most `maxWebhookSubscriptions` rows, whatever the environment holds otherwise.
  const { subscriptions } = await deps.repo.webhooks.page(envId, undefined, maxWebhookSubscriptions);
  const wanting = subscriptions.filter(
    (s) => s.disabledAt === undefined && (s.eventTypes as readonly string[]).includes(event.type),
  );
  const now = deps.clock();
  const started = await Promise.all(
    wanting.map(async (s) => {
      const delivery = newDelivery(envId, s.subscriptionId, event, now);
      if (!(await deps.webhookDeliveries.insert(delivery))) {
        // There already: a repeat of this event. Only a message that failed after writing the row
        // (it came back) queues the first attempt again, in case that send was what failed.
        if (!redelivered) return false;
        const found = await deps.webhookDeliveries.get(envId, s.subscriptionId, delivery.deliveryId);
        if (!found || found.record.status !== "pending" || found.record.attempts > 0) return false;
      }
      await deps.webhookQueue.send(attemptMessage(delivery, 1));
      return true;
    }),
  );
  return `event ${event.id} (${event.type}) of ${envId}: ${started.filter(Boolean).length} of ${wanting.length} deliveries started`;
}

/** Where one attempt left its delivery, and what to log. */
interface AttemptDone {
  delivery?: WebhookDeliveryRecord;
  said: string;
}

/** The delivery's fields for one attempt's result, the previous attempt's details cleared. */
function afterAttempt(d: WebhookDeliveryRecord, attempt: number, now: Date, r: AttemptResult): WebhookDeliveryRecord {
  const { lastStatus: _s, lastError: _e, lastResponse: _r, nextAttemptAt: _n, ...rest } = d;
  return {
    ...rest,
    attempts: attempt,
    lastAttemptAt: now.toISOString(),
    ...(r.status !== undefined ? { lastStatus: r.status } : {}),
    ...(r.error !== undefined ? { lastError: r.error.slice(0, 500) } : {}),
    ...(r.response !== undefined ? { lastResponse: r.response } : {}),
  };
}

async function runAttempt(deps: Deps, m: AttemptMessage, redelivered: boolean): Promise<AttemptDone> {
  const [sub, found] = await Promise.all([
    deps.repo.webhooks.get(m.envId, m.subscriptionId),
    deps.webhookDeliveries.get(m.envId, m.subscriptionId, m.deliveryId),
  ]);
  if (!found) return { said: "no such delivery" };
  const d = found.record;
  if (d.status !== "pending") return { delivery: d, said: `already ${d.status}` };
  if (d.attempts >= m.attempt) {
    // This attempt is recorded. If this message came back, the send of the next one may be what
    // failed: send it again for the time that is left (a second copy finds its attempt made).
    if (redelivered && d.attempts === m.attempt && d.nextAttemptAt) {
      const left = Math.max(0, (Date.parse(d.nextAttemptAt) - deps.clock().getTime()) / 1000);
      await deps.webhookQueue.send(attemptMessage(d, m.attempt + 1), { delaySeconds: left });
      return { delivery: d, said: "recorded before; the next attempt queued again" };
    }
    return { delivery: d, said: "made before" };
  }
  if (d.attempts !== m.attempt - 1) return { delivery: d, said: `stale (the delivery is at attempt ${d.attempts})` };
  const now = deps.clock();
  if (!sub || sub.record.disabledAt !== undefined) {
    const why = sub ? "the subscription is disabled" : "the subscription was deleted";
    const failed: WebhookDeliveryRecord = { ...d, status: "failed", lastError: `not sent: ${why}` };
    await replaceOrStop(deps, failed, found.etag);
    return { delivery: failed, said: `not sent: ${why}` };
  }
  const body = JSON.stringify(d.event);
  const headers = signWebhook(d.event.id, now, body, signingSecrets(sub.record, now));
  const result = await deps.deliverWebhook({ url: sub.record.url, body, headers, now });
  const next = afterAttempt(d, m.attempt, now, result);
  if (result.outcome === "delivered") {
    const delivered: WebhookDeliveryRecord = { ...next, status: "delivered" };
    return (await replaceOrStop(deps, delivered, found.etag))
      ? { delivery: delivered, said: `delivered (${result.status})` }
      : { said: "delivered, but the delivery changed meanwhile" };
  }
  if (result.outcome === "disable") {
    const failed: WebhookDeliveryRecord = {
      ...next,
      status: "failed",
      lastError: "the receiver answered 410 Gone: the subscription is disabled",
    };
    await replaceOrStop(deps, failed, found.etag);
    await disableSubscription(deps, sub.record, `the receiver answered 410 Gone to delivery ${d.deliveryId}`);
    return { delivery: failed, said: "410: the subscription is disabled" };
  }
  const wait = nextAttemptDelaySeconds(m.attempt, result.retryAfter);
  if (wait === undefined) {
    const failed: WebhookDeliveryRecord = { ...next, status: "failed" };
    await replaceOrStop(deps, failed, found.etag);
    return { delivery: failed, said: `failed for good after ${m.attempt} attempts` };
  }
  const retrying: WebhookDeliveryRecord = {
    ...next,
    nextAttemptAt: new Date(now.getTime() + wait * 1000).toISOString(),
  };
  // Recorded first, then queued: a crash between the two brings this message back, and the branch
  // above queues the next attempt then.
  if (!(await replaceOrStop(deps, retrying, found.etag))) return { said: "failed; the delivery changed meanwhile" };
  await deps.webhookQueue.send(attemptMessage(retrying, m.attempt + 1), { delaySeconds: wait });
  return { delivery: retrying, said: `failed (${result.status ?? result.error}); next attempt in ${wait} s` };
}

/** Writes the delivery under the ETag it was read with; false when a redelivery or another copy of this attempt wrote it first. */
async function replaceOrStop(deps: Deps, d: WebhookDeliveryRecord, etag: string): Promise<boolean> {
  try {
    await deps.webhookDeliveries.replace(d, etag);
    return true;
  } catch (e) {
    if (e instanceof ConcurrencyError) return false;
    throw e;
  }
}

/** A receiver's 410: the subscription gets nothing more until a `PUT` enables it, and the change log says so. */
async function disableSubscription(deps: Deps, record: WebhookSubscriptionRecord, reason: string): Promise<void> {
  for (let tries = 1; tries <= 5; tries++) {
    const found = await deps.repo.webhooks.get(record.envId, record.subscriptionId);
    if (!found || found.record.disabledAt !== undefined) return;
    const at = deps.clock().toISOString();
    const items = outboxItems(deps, [
      logItem(deps, record.envId, deliveryActor, {
        action: "webhook.disabled",
        detail: `disabled webhook ${record.subscriptionId} (${record.url}): ${reason}`.slice(0, 2000),
      }),
    ]);
    try {
      await deps.repo.webhooks.replace(
        { ...found.record, disabledAt: at, disabledReason: reason.slice(0, 500), updatedAt: at },
        found.etag,
        items,
      );
    } catch (e) {
      if (e instanceof ConcurrencyError) continue;
      throw e;
    }
    await relayNow(deps, "directory", keys.directoryPk(record.envId), items);
    return;
  }
  throw new Error(`webhook ${record.subscriptionId} kept changing while it was being disabled`);
}

/** A delivery as the routes show it: without the event it sends. */
function view(d: WebhookDeliveryRecord): WebhookDelivery {
  const { event: _event, ...rest } = d;
  return rest;
}

const unknownSubscription = (envId: string, subscriptionId: string) =>
  notFound(`webhook subscription ${subscriptionId} was not found in environment ${envId}`);

async function subscriptionFor(deps: Pick<Deps, "repo">, caller: Caller, envId: string, subscriptionId: string) {
  const [, found] = await Promise.all([
    requireEnvironmentAdmin(deps, caller, envId),
    deps.repo.webhooks.get(envId, subscriptionId),
  ]);
  if (!found) throw unknownSubscription(envId, subscriptionId);
  return found.record;
}

/** `GET .../webhooks/{subscriptionId}/deliveries`: the subscription's deliveries, newest first, a page at a time. */
export async function listWebhookDeliveries(
  deps: Pick<Deps, "repo" | "webhookDeliveries">,
  caller: Caller,
  envId: string,
  subscriptionId: string,
  q: PageQuery,
): Promise<Page<WebhookDelivery>> {
  await subscriptionFor(deps, caller, envId, subscriptionId);
  const p = await deps.webhookDeliveries.page(envId, subscriptionId, continuationOf(q, "deliveries"), topOf(q));
  return page(p.deliveries.map(view), "deliveries", p.continuation);
}

const disabledConflict = (subscriptionId: string) =>
  conflict(`webhook ${subscriptionId} is disabled (its receiver answered 410 Gone): PUT it again to enable it`);

/**
 * `POST .../webhooks/{subscriptionId}/test`: a `sharing.webhook.test` event to this subscription,
 * whatever types it names, delivered like any other (a delivery row, retries on failure). The
 * answer is the delivery after its first attempt, made while the request waits.
 */
export async function sendTestEvent(
  deps: Deps,
  caller: Caller,
  envId: string,
  subscriptionId: string,
): Promise<WebhookDelivery> {
  const sub = await subscriptionFor(deps, caller, envId, subscriptionId);
  if (sub.disabledAt !== undefined) throw disabledConflict(subscriptionId);
  const now = deps.clock();
  const event: CloudEvent = {
    specversion: "1.0",
    id: deps.newId(),
    source: `/environments/${envId}`,
    type: webhookTestEventType,
    subject: `webhooks/${subscriptionId}`,
    time: now.toISOString(),
    datacontenttype: "application/json",
    data: { actorId: caller.principalId, detail: `a test event for webhook ${subscriptionId}` },
  };
  const delivery = newDelivery(envId, subscriptionId, event, now);
  await deps.webhookDeliveries.insert(delivery);
  const done = await runAttempt(deps, attemptMessage(delivery, 1), false);
  return view(done.delivery ?? delivery);
}

/**
 * `POST .../webhooks/{subscriptionId}/deliveries/{deliveryId}/redeliver`: starts a delivered or
 * failed delivery over, the same event with the same `webhook-id`, its first attempt queued. 409
 * while its retries are still under way, or when the subscription is disabled.
 */
export async function redeliverWebhook(
  deps: Deps,
  caller: Caller,
  envId: string,
  subscriptionId: string,
  deliveryId: string,
): Promise<WebhookDelivery> {
  const sub = await subscriptionFor(deps, caller, envId, subscriptionId);
  if (sub.disabledAt !== undefined) throw disabledConflict(subscriptionId);
  const found = await deps.webhookDeliveries.get(envId, subscriptionId, deliveryId);
  if (!found) throw notFound(`delivery ${deliveryId} of webhook ${subscriptionId} was not found`);
  const d = found.record;
  // A pending delivery with no attempt made yet may be queued again: if its first message was lost
  // (a failed send after a redelivery's write), this is how it gets going; a copy finds it made.
  if (d.status === "pending" && d.attempts > 0)
    throw conflict(`delivery ${deliveryId} is still being retried (next attempt at ${d.nextAttemptAt ?? "soon"})`);
  const { nextAttemptAt: _next, ...rest } = d;
  const restarted: WebhookDeliveryRecord =
    d.status === "pending" ? d : { ...rest, status: "pending", attempts: 0, redeliveries: (d.redeliveries ?? 0) + 1 };
  if (restarted !== d && !(await replaceOrStop(deps, restarted, found.etag)))
    throw conflict(`delivery ${deliveryId} changed meanwhile; try again`);
  await deps.webhookQueue.send(attemptMessage(restarted, 1));
  return view(restarted);
}
