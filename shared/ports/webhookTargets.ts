import type { AttemptResult } from "../webhooks/deliveries.js";
import type { WebhookHeaders } from "../webhooks/signing.js";

/** One address a host name resolved to. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * Whether a webhook URL may be called, and if so the address to connect to. The caller connects to
 * `pinned` (sending `url`'s host name for TLS and `Host`), never resolving the name again, so DNS
 * that changes between the check and the connection (rebinding) can't steer it to a private address.
 */
export type WebhookTargetCheck =
  { ok: true; url: URL; pinned: ResolvedAddress; addresses: ResolvedAddress[] } | { ok: false; reason: string };

/**
 * Checks a webhook URL (`shared/adapters/http/ssrfGuard.ts`): when a subscription is written, and
 * again at every delivery, since what a name resolves to can change.
 */
export type CheckWebhookTarget = (url: string) => Promise<WebhookTargetCheck>;

/**
 * One delivery attempt to a receiver (`adapters/http/webhookSender.ts`): the URL checked again, the
 * signed body posted to the pinned address within the delivery timeout. Never throws for what the
 * receiver or the network did; that is in the result.
 */
export type DeliverWebhook = (attempt: {
  url: string;
  body: string;
  headers: WebhookHeaders;
  now: Date;
}) => Promise<AttemptResult>;
