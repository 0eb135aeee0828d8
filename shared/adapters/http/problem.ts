import type { HttpResponseInit } from "@azure/functions";
import { ConcurrencyError, DomainError, StorageLimitError, type ErrorCode, type FieldError } from "../../errors.js";

const statusOf: Record<ErrorCode, number> = {
  invalidInput: 400,
  unauthenticated: 401,
  forbidden: 403,
  notFound: 404,
  conflict: 409,
  gone: 410,
  ruleViolation: 422,
  unavailable: 503,
};

const titleOf: Record<number, string> = {
  400: "Invalid input",
  401: "Unauthenticated",
  403: "Forbidden",
  404: "Not found",
  405: "Method not allowed",
  409: "Conflict",
  410: "Gone",
  413: "Payload too large",
  415: "Unsupported media type",
  422: "Rule violation",
  500: "Internal error",
  503: "Service unavailable",
};

export function problem(status: number, detail: string, errors?: FieldError[]): HttpResponseInit {
  return {
    status,
    headers: {
      "content-type": "application/problem+json",
      ...(status === 401 ? { "www-authenticate": 'Bearer realm="sharing"' } : {}),
      ...(status === 503 ? { "retry-after": "5" } : {}),
    },
    body: JSON.stringify({
      type: `https://sharing.example/problems/${status}`,
      title: titleOf[status] ?? "Error",
      status,
      detail,
      ...(errors && errors.length > 0 ? { errors } : {}),
    }),
  };
}

/** The one map from errors to responses. Anything unexpected is a 500 that says nothing about internals. */
export function toProblem(e: unknown, log: (message: string) => void): HttpResponseInit {
  if (e instanceof DomainError) {
    if (e.code === "unavailable")
      log(`unavailable: ${e.message}: ${String((e.cause as Error | undefined)?.message ?? "")}`);
    return problem(statusOf[e.code], e.message, e.errors);
  }
  if (e instanceof ConcurrencyError)
    return problem(409, "the resource changed while this request ran; read it again and retry");
  // The request schemas keep every caller inside the storage limits (test/unit/rowLimits.test.ts), so a
  // write that breaks one is a bug of ours: 500, and a log line naming the limit, table, row and property.
  if (e instanceof StorageLimitError) {
    log(`design bug, a write broke a storage limit: ${e.message}`);
    return problem(500, "an unexpected error occurred; it has been logged");
  }
  log(`unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return problem(500, "an unexpected error occurred; it has been logged");
}
