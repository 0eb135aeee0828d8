import { createHash } from "node:crypto";
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import canonicalize from "canonicalize";
import { invalid } from "../../errors.js";
import type { IdempotencyStore, StoredResponse } from "../../store/idempotencyRows.js";
import { problem } from "./problem.js";

export const idempotencyHeader = "idempotency-key";
export const replayedHeader = "idempotency-replayed";

/** What a key may be: 1 to 255 printable ASCII characters (as Stripe's and the IETF draft's keys are). */
const keyPattern = /^[\x20-\x7e]{1,255}$/;

/** The route's Idempotency-Key, validated; undefined when the request sends none (then nothing is stored or read). */
export function idempotencyKeyOf(request: HttpRequest): string | undefined {
  const key = request.headers.get(idempotencyHeader);
  if (key === null) return undefined;
  if (!keyPattern.test(key))
    throw invalid("the Idempotency-Key header is not valid", [
      { field: "header.idempotency-key", message: "must be 1 to 255 printable ASCII characters" },
    ]);
  return key;
}

/**
 * The request the key stands for: method, route parameters, query and body. The body is hashed as
 * canonical JSON (RFC 8785), so a client that serialises the same body again with its keys in
 * another order or other spacing still matches; any change of value is another request.
 */
export function requestHash(request: HttpRequest, bodyText: string | undefined): string {
  const body = bodyText === undefined || bodyText.trim() === "" ? null : (JSON.parse(bodyText) as unknown);
  const query = Object.fromEntries([...request.query.entries()].sort(([a], [b]) => a.localeCompare(b)));
  const what = { method: request.method, params: request.params, query };
  let canonical: string | undefined;
  try {
    canonical = canonicalize({ ...what, body });
  } catch {
    // RFC 8785 refuses strings with a lone surrogate, which JSON text may hold (`"\ud800"`): such a
    // body is hashed as sent, so only a byte-identical retry matches. Tagged, so it can't equal a canonical form.
    canonical = `raw:${JSON.stringify({ ...what, body: bodyText })}`;
  }
  return createHash("sha256")
    .update(canonical ?? "")
    .digest("hex");
}

/** The headers of an answer that a replay gives back; the rest (dates, tracing) belong to the moment. */
const keptHeaders = ["content-type", "location", "etag"];

/**
 * Whether an answer is one to replay: successes and the caller's own mistakes, which a retry would
 * meet again. Not kept: 5xx (storage down, our bug: a retry may succeed), 409 and 429 (a race or a
 * limit the client is told to retry), and the route's "post again to continue" statuses.
 */
function keeps(status: number, continueStatuses: readonly number[]): boolean {
  if (continueStatuses.includes(status)) return false;
  return status >= 200 && status < 500 && status !== 409 && status !== 429;
}

function storable(response: HttpResponseInit): StoredResponse | undefined {
  const body = response.body ?? "";
  if (typeof body !== "string") return undefined;
  const all = new Headers(response.headers);
  const headers: Record<string, string> = {};
  for (const name of keptHeaders) {
    const value = all.get(name);
    if (value !== null) headers[name] = value;
  }
  return { status: response.status ?? 200, headers, body };
}

/**
 * Runs a creating request under its Idempotency-Key (docs/idempotency.md): the first request with a
 * key runs and its answer is kept; the same key and request within 24 hours answer that again with
 * `Idempotency-Replayed: true`; another request under the key is a 422; while the first still runs, 409.
 * Costs one write before the work and one after.
 */
export async function runIdempotent(
  store: IdempotencyStore,
  scope: { callerId: string; route: string; key: string },
  hash: string,
  now: Date,
  options: { continueStatuses: readonly number[]; log: (message: string) => void },
  run: () => Promise<HttpResponseInit>,
): Promise<HttpResponseInit> {
  const begun = await store.begin(scope, hash, now);
  if (begun.kind === "replay") {
    const r = begun.response;
    return { status: r.status, headers: { ...r.headers, [replayedHeader]: "true" }, body: r.body };
  }
  if (begun.kind === "otherRequest") {
    return problem(
      422,
      "this Idempotency-Key was used with another request (method, path or body) in the last 24 hours; send a new key",
    );
  }
  if (begun.kind === "inProgress") {
    const p = problem(409, "a request with this Idempotency-Key is still running; retry when it has answered");
    return { ...p, headers: { ...(p.headers as Record<string, string>), "retry-after": "1" } };
  }
  const { lease } = begun;
  let response: HttpResponseInit;
  try {
    response = await run();
  } catch (e) {
    // `run` answers refusals as responses; anything it throws is unexpected: release the key so a retry runs again.
    await store.release(lease).catch((r: unknown) => options.log(`idempotency: could not release a key: ${String(r)}`));
    throw e;
  }
  const kept = keeps(response.status ?? 200, options.continueStatuses) ? storable(response) : undefined;
  try {
    if (kept === undefined) await store.release(lease);
    else {
      const outcome = await store.complete(lease, kept);
      if (outcome === "tooLarge")
        options.log(
          `idempotency: the answer of ${scope.route} is larger than a row holds; not kept, a retry runs again`,
        );
      if (outcome === "lost") options.log(`idempotency: a later attempt took over the key of ${scope.route}`);
    }
  } catch (e) {
    // The work is done: answer it. The key stays marked running until its lease ends (409s meanwhile).
    options.log(`idempotency: could not keep the answer of ${scope.route}: ${String(e)}`);
  }
  return response;
}
