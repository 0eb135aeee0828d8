/**
 * Failures a test can ask the sink to inject, so the app's retries and its handling of a failed
 * operation can be exercised against the real ACS client.
 */
import { acsError } from "./acs.js";

/** Statuses {@link FaultPlan.failNext} can inject. */
export type InjectedFailureStatus = 429 | 500 | 503;

/** A response to send instead of handling the request. */
export interface InjectedResponse {
  status: InjectedFailureStatus;
  body: ReturnType<typeof acsError>;
  headers: Record<string, string>;
}

export interface FaultPlan {
  /** See `MailSink.failNext`. */
  failNext(status: InjectedFailureStatus, count: number, retryAfterSeconds?: number): void;
  /** See `MailSink.failNextOperations`. */
  failNextOperations(count: number): void;
  /** The injected answer for this send POST, if one is pending (it is then used up). */
  takeFailure(): InjectedResponse | undefined;
  /** The error this new operation ends with, if a failed operation is pending (it is then used up). */
  takeFailedOperation(): { code: string; message: string } | undefined;
  clear(): void;
}

export function createFaultPlan(): FaultPlan {
  const pending: { status: InjectedFailureStatus; remaining: number; retryAfterSeconds?: number }[] = [];
  let failedOperations = 0;

  return {
    failNext(status, count, retryAfterSeconds) {
      if (![429, 500, 503].includes(status))
        throw new RangeError(`failNext status must be 429, 500 or 503, got ${status}`);
      if (!Number.isInteger(count) || count < 0)
        throw new RangeError(`failNext count must be a whole number, got ${count}`);
      if (retryAfterSeconds !== undefined && !(Number.isInteger(retryAfterSeconds) && retryAfterSeconds >= 0)) {
        throw new RangeError(`failNext retryAfterSeconds must be a whole number, got ${retryAfterSeconds}`);
      }
      if (count > 0)
        pending.push(
          retryAfterSeconds === undefined
            ? { status, remaining: count }
            : { status, remaining: count, retryAfterSeconds },
        );
    },
    failNextOperations(count) {
      if (!Number.isInteger(count) || count < 0)
        throw new RangeError(`failNextOperations count must be a whole number, got ${count}`);
      failedOperations += count;
    },
    takeFailure() {
      const next = pending[0];
      if (!next) return undefined;
      next.remaining -= 1;
      if (next.remaining <= 0) pending.shift();
      const headers: Record<string, string> = {};
      // A client honours Retry-After; a throttled ACS always sends it, a failing one not always.
      const retryAfter = next.retryAfterSeconds ?? (next.status === 429 ? 0 : undefined);
      if (retryAfter !== undefined) headers["retry-after"] = String(retryAfter);
      const code =
        next.status === 429 ? "TooManyRequests" : next.status === 503 ? "ServiceUnavailable" : "InternalServerError";
      return { status: next.status, body: acsError(code, "failure injected by failNext"), headers };
    },
    takeFailedOperation() {
      if (failedOperations <= 0) return undefined;
      failedOperations -= 1;
      // What ACS reports for, e.g., a suppressed recipient.
      return { code: "EmailDroppedAllRecipientsSuppressed", message: "failure injected by failNextOperations" };
    },
    clear() {
      pending.length = 0;
      failedOperations = 0;
    },
  };
}
