import { Webhook } from "standardwebhooks";

/** The Standard Webhooks headers of one delivery attempt. */
export interface WebhookHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/**
 * Signs a delivery as Standard Webhooks v1 says: `v1,` and the base64 HMAC-SHA256 of
 * `{id}.{timestamp}.{body}` under each secret (the `whsec_` key, base64-decoded), space-separated,
 * so during a rotation receivers holding either secret verify it. `id` is the event's id, the same
 * on every retry; `at` is this attempt's time (receivers refuse stale timestamps). `body` is sent as
 * signed, byte for byte.
 */
export function signWebhook(id: string, at: Date, body: string, secrets: readonly string[]): WebhookHeaders {
  if (secrets.length === 0) throw new Error("a webhook is signed with at least one secret");
  return {
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": secrets.map((s) => new Webhook(s).sign(id, at, body)).join(" "),
  };
}
