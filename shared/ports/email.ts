/**
 * The outgoing-email port. The domain builds {@link OutgoingEmail}s and hands them to an
 * {@link EmailSender}; which service carries them (Azure Communication Services, the local sink) is
 * the adapter's business.
 */

/** One recipient of an {@link OutgoingEmail}. */
export interface EmailRecipient {
  /** The recipient's email address. */
  address: string;
  /** The name shown beside the address, when known. */
  displayName?: string;
}

/** One email to send, as the domain sees it. */
export interface OutgoingEmail {
  /**
   * A UUID naming this one email. It must stay identical on every retry of the same email (a queue
   * redelivery included), so a service that deduplicates on it, and our own sent record, can tell a
   * retry from a new email.
   */
  operationId: string;
  /** The recipients; at least one. */
  to: EmailRecipient[];
  /** The subject line. */
  subject: string;
  /** The plain-text body, for clients that don't render HTML. */
  plainText: string;
  /** The HTML body. */
  html: string;
}

/** Sends emails. Implementations throw {@link EmailSendError} and nothing else for a failed send. */
export interface EmailSender {
  /**
   * Sends one email and resolves once the service has accepted it for delivery.
   *
   * @returns `messageId`: the service's id for the send (for ACS, the operation id).
   * @throws {@link EmailSendError} `transient` when trying again later may succeed, `permanent` when it won't.
   */
  send(email: OutgoingEmail): Promise<{ messageId: string }>;
}

/**
 * Whether a failed send is worth retrying: `transient` (throttled, service or network trouble, a
 * timeout) or `permanent` (refused credentials, a request the service rejects, a failed operation).
 */
export type EmailSendErrorCode = "transient" | "permanent";

/** Why an {@link EmailSender} could not send an email. */
export class EmailSendError extends Error {
  /** Whether retrying the same email later may succeed. */
  readonly code: EmailSendErrorCode;
  /** The HTTP status the service answered with, when there was an answer. */
  readonly status?: number;

  /**
   * @param code - `transient` or `permanent`, see {@link EmailSendErrorCode}.
   * @param message - What went wrong, for logs.
   * @param options - `status`: the service's HTTP status, if any; `cause`: the underlying error.
   */
  constructor(code: EmailSendErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "EmailSendError";
    this.code = code;
    if (options.status !== undefined) this.status = options.status;
  }
}

/** Tells an {@link EmailSendError} from any other thrown value. */
export function isEmailSendError(error: unknown): error is EmailSendError {
  return error instanceof EmailSendError;
}
