import { randomBytes } from "node:crypto";
import { ConcurrencyError, conflict, invalid, notFound } from "../errors.js";
import {
  maxWebhookSubscriptions,
  previousSecretHours,
  type WebhookBody,
  type WebhookSubscriptionRecord,
  type WebhookSubscriptionView,
  type WebhookSubscriptionWithSecret,
} from "../model/webhooks.js";
import { keys } from "../store/keys.js";
import { requireEnvironmentAdmin } from "./adminGate.js";
import type { Capabilities, Caller } from "./capabilities.js";
import { logItem, outboxItems } from "./mutate.js";
import { continuationOf, page, topOf, type Page, type PageQuery } from "./reads.js";
import { relayNow } from "./relay.js";

/**
 * Webhook subscriptions (contract v2, "Events for integrations (webhooks)"): environment admins and
 * `Sharing.Admin` apps only, since a subscription receives every event of the environment it names.
 */
type Deps = Pick<
  Capabilities,
  "repo" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock" | "checkWebhookTarget"
>;

/** Attempts of one write against concurrent writers of the same subscription before 409. */
const maxTries = 5;

const hourMs = 60 * 60 * 1000;

/** A new Standard Webhooks secret: 32 random bytes (the format allows 24 to 64), base64, after `whsec_`. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

/**
 * The secrets that sign a delivery at `now`: the current one, and the one `rotate` replaced while
 * its day lasts, so a receiver that still holds the old one keeps verifying (it finds one `v1,`
 * signature it can check among the space-separated ones).
 */
export function signingSecrets(record: WebhookSubscriptionRecord, now: Date): string[] {
  const previousValid =
    record.previousSecret !== undefined &&
    record.previousSecretExpiresAt !== undefined &&
    Date.parse(record.previousSecretExpiresAt) > now.getTime();
  return previousValid ? [record.secret, record.previousSecret!] : [record.secret];
}

function view(r: WebhookSubscriptionRecord, now: Date): WebhookSubscriptionView {
  const { secret: _secret, previousSecret: _previous, previousSecretExpiresAt, ...rest } = r;
  // An expired previous secret signs nothing any more: don't announce it.
  return previousSecretExpiresAt && Date.parse(previousSecretExpiresAt) > now.getTime()
    ? { ...rest, previousSecretExpiresAt }
    : rest;
}

/** What a subscription does, for the change log (never a secret). */
function describe(r: Pick<WebhookSubscriptionRecord, "url" | "eventTypes" | "description">): string {
  return `${r.url} for ${r.eventTypes.join(", ")}${r.description ? ` (${r.description})` : ""}`;
}

function sameSettings(a: WebhookSubscriptionRecord, b: WebhookBody): boolean {
  return (
    a.url === b.url &&
    a.description === b.description &&
    a.eventTypes.length === b.eventTypes.length &&
    a.eventTypes.every((t) => b.eventTypes.includes(t))
  );
}

/**
 * `PUT .../webhooks/{subscriptionId}`: creates the subscription with a new signing secret (shown in
 * this answer only), or replaces its URL, event types and description (its secret stays). The URL
 * passes the SSRF guard or the answer is a 400 naming `body.url` and why. At most
 * `maxWebhookSubscriptions` per environment; the count is one query of at most that many rows, so
 * two creates at the same instant may both pass it (checked, not locked, as for SCIM tokens).
 */
export async function putWebhookSubscription(
  deps: Deps,
  caller: Caller,
  envId: string,
  subscriptionId: string,
  body: WebhookBody,
): Promise<
  | { created: true; subscription: WebhookSubscriptionWithSecret }
  | { created: false; subscription: WebhookSubscriptionView }
> {
  await requireEnvironmentAdmin(deps, caller, envId);
  const target = await deps.checkWebhookTarget(body.url);
  if (!target.ok)
    throw invalid(`the webhook URL can't be used: ${target.reason}`, [{ field: "body.url", message: target.reason }]);
  const eventTypes = [...body.eventTypes].sort();
  for (let tries = 1; ; tries++) {
    const found = await deps.repo.webhooks.get(envId, subscriptionId);
    const now = deps.clock();
    const at = now.toISOString();
    try {
      if (found) {
        const disabled = found.record.disabledAt !== undefined;
        if (!disabled && sameSettings(found.record, body))
          return { created: false, subscription: view(found.record, now) };
        // A PUT enables a subscription its receiver's 410 disabled: the admin says it is back.
        const { description: _old, disabledAt: _at, disabledReason: _why, ...kept } = found.record;
        const next: WebhookSubscriptionRecord = {
          ...kept,
          url: body.url,
          eventTypes,
          ...(body.description !== undefined ? { description: body.description } : {}),
          updatedAt: at,
        };
        const items = outboxItems(deps, [
          logItem(deps, envId, caller, {
            action: "webhook.updated",
            detail:
              `updated webhook ${subscriptionId}: ${describe(found.record)} → ${describe(next)}${disabled ? "; enabled again" : ""}`.slice(
                0,
                2000,
              ),
          }),
        ]);
        await deps.repo.webhooks.replace(next, found.etag, items);
        await relayNow(deps, "directory", keys.directoryPk(envId), items);
        return { created: false, subscription: view(next, now) };
      }
      const held = await deps.repo.webhooks.page(envId, undefined, maxWebhookSubscriptions);
      if (held.subscriptions.length >= maxWebhookSubscriptions)
        throw conflict(
          `environment ${envId} already has ${maxWebhookSubscriptions} webhook subscriptions, the most it may hold: delete one first`,
        );
      const record: WebhookSubscriptionRecord = {
        envId,
        subscriptionId,
        url: body.url,
        eventTypes,
        ...(body.description !== undefined ? { description: body.description } : {}),
        secret: newWebhookSecret(),
        createdAt: at,
        createdBy: caller.principalId,
        updatedAt: at,
      };
      const items = outboxItems(deps, [
        logItem(deps, envId, caller, {
          action: "webhook.created",
          detail: `created webhook ${subscriptionId}: ${describe(record)}`.slice(0, 2000),
        }),
      ]);
      await deps.repo.webhooks.insert(record, items);
      await relayNow(deps, "directory", keys.directoryPk(envId), items);
      return { created: true, subscription: { ...view(record, now), secret: record.secret } };
    } catch (e) {
      // Written, created or deleted by someone else since the read: read again and decide on what is there.
      if (e instanceof ConcurrencyError && tries < maxTries) continue;
      if (e instanceof ConcurrencyError) throw conflict(`webhook ${subscriptionId} kept changing; try again`);
      throw e;
    }
  }
}

const unknownSubscription = (envId: string, subscriptionId: string) =>
  notFound(`webhook subscription ${subscriptionId} was not found in environment ${envId}`);

/** `GET .../webhooks/{subscriptionId}`: the subscription without its secrets. */
export async function getWebhookSubscription(
  deps: Pick<Deps, "repo" | "clock">,
  caller: Caller,
  envId: string,
  subscriptionId: string,
): Promise<WebhookSubscriptionView> {
  const [, found] = await Promise.all([
    requireEnvironmentAdmin(deps, caller, envId),
    deps.repo.webhooks.get(envId, subscriptionId),
  ]);
  if (!found) throw unknownSubscription(envId, subscriptionId);
  return view(found.record, deps.clock());
}

/** `GET .../webhooks`: the environment's subscriptions in id order, a page at a time, without secrets. */
export async function listWebhookSubscriptions(
  deps: Pick<Deps, "repo" | "clock">,
  caller: Caller,
  envId: string,
  q: PageQuery,
): Promise<Page<WebhookSubscriptionView>> {
  await requireEnvironmentAdmin(deps, caller, envId);
  const p = await deps.repo.webhooks.page(envId, continuationOf(q, "webhooks"), topOf(q));
  const now = deps.clock();
  return page(
    p.subscriptions.map((s) => view(s, now)),
    "webhooks",
    p.continuation,
  );
}

/** `DELETE .../webhooks/{subscriptionId}`: no event is delivered to it from then on. 404 when unknown. */
export async function deleteWebhookSubscription(
  deps: Deps,
  caller: Caller,
  envId: string,
  subscriptionId: string,
): Promise<void> {
  await requireEnvironmentAdmin(deps, caller, envId);
  const found = await deps.repo.webhooks.get(envId, subscriptionId);
  if (!found) throw unknownSubscription(envId, subscriptionId);
  const items = outboxItems(deps, [
    logItem(deps, envId, caller, {
      action: "webhook.deleted",
      detail: `deleted webhook ${subscriptionId}: ${describe(found.record)}`.slice(0, 2000),
    }),
  ]);
  try {
    await deps.repo.webhooks.delete(envId, subscriptionId, items);
  } catch (e) {
    // Deleted by someone else since the read: gone either way, and their entry is the one logged.
    if (e instanceof ConcurrencyError) throw unknownSubscription(envId, subscriptionId);
    throw e;
  }
  await relayNow(deps, "directory", keys.directoryPk(envId), items);
}

/**
 * `POST .../webhooks/{subscriptionId}/rotate`: a new signing secret, shown in this answer only. The
 * one it replaces keeps signing beside it for `previousSecretHours`, so receivers can switch without
 * missing an event; a second rotation within that day drops the oldest (two secrets at most).
 */
export async function rotateWebhookSecret(
  deps: Deps,
  caller: Caller,
  envId: string,
  subscriptionId: string,
): Promise<WebhookSubscriptionWithSecret> {
  await requireEnvironmentAdmin(deps, caller, envId);
  for (let tries = 1; ; tries++) {
    const found = await deps.repo.webhooks.get(envId, subscriptionId);
    if (!found) throw unknownSubscription(envId, subscriptionId);
    const now = deps.clock();
    const next: WebhookSubscriptionRecord = {
      ...found.record,
      secret: newWebhookSecret(),
      previousSecret: found.record.secret,
      previousSecretExpiresAt: new Date(now.getTime() + previousSecretHours * hourMs).toISOString(),
      secretRotatedAt: now.toISOString(),
      updatedAt: now.toISOString(),
    };
    const items = outboxItems(deps, [
      logItem(deps, envId, caller, {
        action: "webhook.rotated",
        detail: `rotated the signing secret of webhook ${subscriptionId}; the previous one also signs until ${next.previousSecretExpiresAt}`,
      }),
    ]);
    try {
      await deps.repo.webhooks.replace(next, found.etag, items);
    } catch (e) {
      if (e instanceof ConcurrencyError && tries < maxTries) continue;
      if (e instanceof ConcurrencyError) throw conflict(`webhook ${subscriptionId} kept changing; try again`);
      throw e;
    }
    await relayNow(deps, "directory", keys.directoryPk(envId), items);
    return { ...view(next, now), secret: next.secret };
  }
}
