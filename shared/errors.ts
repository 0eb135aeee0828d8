/**
 * Domain errors, each with a machine-readable code. One map (`shared/adapters/http/problem.ts`)
 * turns them into `application/problem+json` responses.
 */
export type ErrorCode =
  "invalidInput" | "unauthenticated" | "forbidden" | "notFound" | "conflict" | "ruleViolation" | "unavailable" | "gone";

export interface FieldError {
  /** Where the bad value is: `body.principals[0].id`, `params.envId`, `query.search`, `header.authorization`. */
  field: string;
  message: string;
}

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly errors: FieldError[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DomainError";
  }
}

export const invalid = (message: string, errors: FieldError[] = []) => new DomainError("invalidInput", message, errors);
export const forbidden = (message: string) => new DomainError("forbidden", message);
export const notFound = (message: string) => new DomainError("notFound", message);
export const conflict = (message: string) => new DomainError("conflict", message);
export const ruleViolation = (message: string) => new DomainError("ruleViolation", message);
export const unauthenticated = (message: string) => new DomainError("unauthenticated", message);
export const unavailable = (message: string, cause?: unknown) => new DomainError("unavailable", message, [], { cause });

/** A stored row changed since it was read (ETag mismatch) or already exists: the caller retries or reports 409. */
export class ConcurrencyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ConcurrencyError";
  }
}
