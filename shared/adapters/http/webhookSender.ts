import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { CheckWebhookTarget } from "../../ports/webhookTargets.js";
import {
  deliveryTimeoutMs,
  keptResponseChars,
  outcomeOf,
  retryAfterSeconds,
  type AttemptResult,
} from "../../webhooks/deliveries.js";
import type { WebhookHeaders } from "../../webhooks/signing.js";
import { pinnedLookup } from "./ssrfGuard.js";

export interface WebhookPost {
  url: string;
  /** The JSON body, sent byte for byte as signed. */
  body: string;
  headers: WebhookHeaders;
  check: CheckWebhookTarget;
  now: Date;
  timeoutMs?: number;
}

/** Reads at most `keptResponseChars` of the body, then stops reading (a receiver's answer may be huge). */
async function headOf(res: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of res) {
    text += (chunk as Buffer).toString("utf8");
    if (text.length >= keptResponseChars) break;
  }
  res.destroy();
  return text.slice(0, keptResponseChars);
}

/**
 * One delivery attempt: the URL checked by the SSRF guard again (DNS may have changed since the
 * subscription was written), then a POST to exactly the address the guard checked (`pinnedLookup`;
 * the host name still goes in `Host` and, over https, in SNI and the certificate check), within
 * `timeoutMs` for the whole exchange. Redirects are not followed: a 3xx is a failed attempt, so a
 * receiver can't bounce the request to an address the guard never saw.
 */
export async function postWebhook(p: WebhookPost): Promise<AttemptResult> {
  const target = await p.check(p.url);
  if (!target.ok) return { outcome: "retry", error: `the URL was refused: ${target.reason}` };
  const send = target.url.protocol === "https:" ? httpsRequest : httpRequest;
  const signal = AbortSignal.timeout(p.timeoutMs ?? deliveryTimeoutMs);
  try {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(
        target.url,
        {
          method: "POST",
          headers: {
            ...p.headers,
            "content-type": "application/json",
            "content-length": Buffer.byteLength(p.body),
            "user-agent": "sharing-governance-webhooks/1",
          },
          lookup: pinnedLookup(target.pinned),
          signal,
        },
        resolve,
      );
      req.on("error", reject);
      req.end(p.body);
    });
    const status = res.statusCode ?? 0;
    const outcome = outcomeOf(status);
    const retryAfter = retryAfterSeconds(res.headers["retry-after"], p.now);
    if (outcome === "delivered") {
      res.resume();
      return { outcome, status };
    }
    const response = await headOf(res);
    return {
      outcome,
      status,
      ...(response ? { response } : {}),
      ...(retryAfter !== undefined ? { retryAfter } : {}),
    };
  } catch (e) {
    const error = signal.aborted
      ? `no answer within ${(p.timeoutMs ?? deliveryTimeoutMs) / 1000} s`
      : e instanceof Error
        ? e.message
        : String(e);
    return { outcome: "retry", error: error.slice(0, 500) };
  }
}
