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

/** Which documented limit of Azure Table Storage a write would break (`shared/ports/rowLimits.ts`). */
export type StorageLimit =
  | "propertyValue"
  | "propertyCount"
  | "propertyName"
  | "entitySize"
  | "keyLength"
  | "keyCharacter"
  | "transactionOperations"
  | "transactionDuplicateRow"
  | "transactionSize";

/**
 * A row or transaction that Azure Table Storage would refuse, found before anything was sent (or
 * refused by storage itself). The API's schemas keep every caller within the limits, so this is a
 * design bug, never the caller's fault: it answers 500 and is logged with what broke which limit.
 */
export class StorageLimitError extends Error {
  /** The partition key, truncated to 64 characters. */
  readonly pk: string;
  /** The row key (truncated), when one row broke the limit. */
  readonly rk: string | undefined;
  /** The property (truncated), when one property broke the limit. */
  readonly property: string | undefined;

  constructor(
    readonly limit: StorageLimit,
    readonly table: string,
    at: { pk: string; rk?: string | undefined; property?: string | undefined },
    detail: string,
    options?: { cause?: unknown },
  ) {
    const pk = truncated(at.pk);
    const rk = at.rk === undefined ? undefined : truncated(at.rk);
    const property = at.property === undefined ? undefined : truncated(at.property);
    super(
      `storage limit ${limit}: ${detail} (table ${table}, partition ${JSON.stringify(pk)}` +
        `${rk === undefined ? "" : `, row ${JSON.stringify(rk)}`}` +
        `${property === undefined ? "" : `, property ${JSON.stringify(property)}`})`,
      options,
    );
    this.name = "StorageLimitError";
    this.pk = pk;
    this.rk = rk;
    this.property = property;
  }
}

/** Keys can be 512 characters and hold anything: messages and logs get the start and the length. */
function truncated(s: string): string {
  return s.length <= 64 ? s : `${s.slice(0, 64)}…(${s.length} chars)`;
}
