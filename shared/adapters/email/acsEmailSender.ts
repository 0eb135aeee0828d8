import { EmailClient, type EmailMessage } from "@azure/communication-email";
import { EmailSendError, type EmailSender, type OutgoingEmail } from "../../ports/email.js";

/** Settings of {@link createAcsEmailSender}. */
export interface AcsEmailSenderOptions {
  /** `endpoint=https://…;accesskey=…` (an `http://` endpoint, such as the local mail sink, is allowed). */
  connectionString: string;
  /** The verified sender address every email goes out from. */
  senderAddress: string;
  /**
   * Upper bound, in milliseconds, on one whole `send`: the POST, the SDK's own retries and the
   * polling. Default 30 000: well under the Functions timeout, so a stuck send fails as `transient`
   * and the queue retries it instead of the host killing the invocation.
   */
  timeoutMs?: number;
  /** Delay between status polls in milliseconds (default 250); a `Retry-After` from the service wins. */
  pollIntervalMs?: number;
  /**
   * The SDK's own retry policy (core-rest-pipeline `defaultRetryPolicy`). Defaults are the SDK's:
   * 3 retries (4 attempts); a 429 or 503 carrying `Retry-After` waits that long; 408 and 5xx other
   * than 501/505, and connection errors, back off exponentially from 1 s (jittered, at most 64 s).
   * A 429 without `Retry-After` is not retried by the SDK at all.
   */
  retry?: { maxRetries?: number; retryDelayInMs?: number; maxRetryDelayInMs?: number };
}

// The SDK's own connection-string pattern (@azure/communication-common), so we see the same endpoint it will.
const connectionStringPattern = /endpoint=(.*);accesskey=(.*)/i;
// What the SDK's serializer accepts for the `Operation-Id` header; checked here so a bad id is our
// permanent error and not a bare Error from deep inside the SDK.
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * An {@link EmailSender} on Azure Communication Services email.
 *
 * The `operationId` of each email is sent as the `Operation-Id` header; the SDK signs and serializes
 * a request once, so its own retries repeat the same header, and a later `send` of the same email
 * (a queue redelivery) sends it again too.
 */
export function createAcsEmailSender(options: AcsEmailSenderOptions): EmailSender {
  const { connectionString, senderAddress, timeoutMs = 30_000, pollIntervalMs = 250, retry } = options;
  const endpoint = connectionStringPattern.exec(connectionString)?.[1];
  if (endpoint === undefined) throw new Error("ACS connection string must look like endpoint=…;accesskey=…");
  const client = new EmailClient(connectionString, {
    // Only the local sink speaks plain HTTP; never relax TLS for a real endpoint.
    ...(endpoint.toLowerCase().startsWith("http://") ? { allowInsecureConnection: true } : {}),
    ...(retry ? { retryOptions: retry } : {}),
  });

  return {
    async send(email: OutgoingEmail): Promise<{ messageId: string }> {
      if (!uuidPattern.test(email.operationId)) {
        throw new EmailSendError("permanent", `operationId must be a UUID, got ${JSON.stringify(email.operationId)}`);
      }
      if (email.to.length === 0) throw new EmailSendError("permanent", "an email needs at least one recipient");

      const message: EmailMessage = {
        senderAddress,
        content: { subject: email.subject, plainText: email.plainText, html: email.html },
        recipients: {
          to: email.to.map((r) =>
            r.displayName === undefined ? { address: r.address } : { address: r.address, displayName: r.displayName },
          ),
        },
      };
      // One signal bounds everything: the SDK hands it to the POST, to its retry delays and to every poll.
      const abortSignal = AbortSignal.timeout(timeoutMs);
      try {
        // beginSend already polls once, so against the sink (or a quick ACS) it comes back done.
        const poller = await client.beginSend(message, {
          operationId: email.operationId,
          updateIntervalInMs: pollIntervalMs,
          abortSignal,
        });
        const result = await poller.pollUntilDone({ abortSignal });
        return { messageId: result.id };
      } catch (error) {
        throw toEmailSendError(error, { timedOut: abortSignal.aborted, timeoutMs });
      }
    },
  };
}

/** The parts of the SDK's RestError we rely on, read without importing @azure/core-rest-pipeline. */
function restErrorStatus(error: unknown): { isRestError: boolean; status?: number } {
  if (!(error instanceof Error) || error.name !== "RestError") return { isRestError: false };
  const status = "statusCode" in error && typeof error.statusCode === "number" ? error.statusCode : undefined;
  return status === undefined ? { isRestError: true } : { isRestError: true, status };
}

function toEmailSendError(error: unknown, ctx: { timedOut: boolean; timeoutMs: number }): EmailSendError {
  const detail = error instanceof Error ? error.message : String(error);
  const { isRestError, status } = restErrorStatus(error);
  if (status !== undefined) {
    // The SDK has already spent its own retries when a 429/5xx reaches us, so this is the final answer
    // for this attempt; the caller's retry (the queue) is the next level up.
    const transient = status === 408 || status === 429 || status >= 500;
    return new EmailSendError(transient ? "transient" : "permanent", `ACS answered ${status}: ${detail}`, {
      status,
      cause: error,
    });
  }
  // An abort surfaces as AbortError, or as whatever the SDK was doing when it fired.
  if (ctx.timedOut) {
    return new EmailSendError("transient", `email send timed out after ${ctx.timeoutMs} ms: ${detail}`, {
      cause: error,
    });
  }
  // A RestError without a status never got an answer: connection refused or reset, DNS, a broken body.
  if (isRestError) return new EmailSendError("transient", `could not reach ACS: ${detail}`, { cause: error });
  // What is left: a `Failed` (or `Canceled`) operation, which core-lro throws as a plain Error
  // ("The long-running operation has failed. <code>. <message>"), or a bug or misconfiguration on
  // our side. Sending the same email again would end the same way.
  return new EmailSendError("permanent", `email send failed: ${detail}`, { cause: error });
}
