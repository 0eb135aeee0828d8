/**
 * What the sink remembers: the accepted messages, each send operation's outcome and how many
 * authenticated POSTs carried each `Operation-Id`. ACS deduplicates on `Operation-Id`, so does this.
 */

/** One email the sink accepted. */
export interface SinkMessage {
  /** The `Operation-Id` the client sent; the sink keeps one message per id. */
  operationId: string;
  /** When the first accepted POST for this id arrived (ISO 8601). */
  receivedAt: string;
  /** The sender address. */
  from: string;
  /** The `to` addresses. */
  to: string[];
  /** The subject line. */
  subject: string;
  /** The plain-text body ("" when the email had none). */
  plainText: string;
  /** The HTML body ("" when the email had none). */
  html: string;
  /** How many authenticated send POSTs carried this `Operation-Id`, injected failures included. */
  attempts: number;
}

/** An email operation as `GET /emails/operations/{id}` returns it. */
export interface OperationRecord {
  id: string;
  status: "Running" | "Succeeded" | "Failed";
  error?: { code: string; message: string };
}

/** The fields of an accepted send the sink keeps (id, time and attempts are its own). */
export type AcceptedEmail = Omit<SinkMessage, "operationId" | "receivedAt" | "attempts">;

export interface MessageStore {
  /** Every accepted message, newest first (copies). */
  messages(): SinkMessage[];
  attempts(operationId: string): number;
  /** Counts one authenticated send POST for `operationId`, whatever its answer. */
  countAttempt(operationId: string): void;
  operation(id: string): OperationRecord | undefined;
  /**
   * Records the send of `id`: the first time, as failed when `injectedError` yields an error, else as
   * succeeded with the message stored. A repeated id keeps the first outcome and stores nothing.
   */
  accept(id: string, email: AcceptedEmail, injectedError: () => OperationRecord["error"]): void;
  clear(): void;
}

export function createMessageStore(): MessageStore {
  const stored: Omit<SinkMessage, "attempts">[] = [];
  const operations = new Map<string, OperationRecord>();
  const attemptCounts = new Map<string, number>();
  const attempts = (operationId: string) => attemptCounts.get(operationId) ?? 0;

  return {
    messages: () => stored.map((m) => ({ ...m, to: [...m.to], attempts: attempts(m.operationId) })).reverse(),
    attempts,
    countAttempt: (operationId) => void attemptCounts.set(operationId, attempts(operationId) + 1),
    operation: (id) => operations.get(id),
    accept(id, email, injectedError) {
      // A repeated Operation-Id is answered as the first one was, and stored once.
      if (operations.has(id)) return;
      const error = injectedError();
      if (error) {
        operations.set(id, { id, status: "Failed", error });
        return;
      }
      operations.set(id, { id, status: "Succeeded" });
      stored.push({ operationId: id, receivedAt: new Date().toISOString(), ...email, to: [...email.to] });
    },
    clear() {
      stored.length = 0;
      operations.clear();
      attemptCounts.clear();
    },
  };
}
