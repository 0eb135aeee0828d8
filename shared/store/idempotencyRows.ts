import { createHash } from "node:crypto";
import { z } from "zod";
import { ConcurrencyError } from "../errors.js";
import { entityBytes, tableLimits } from "../ports/rowLimits.js";
import type { RowStore } from "../ports/rows.js";
import { decodeRow, encodeRow, writeOneRow } from "./rowJson.js";

/** How long a key is remembered (the contract: 24 hours). */
export const idempotencyTtlMs = 24 * 60 * 60 * 1000;

/**
 * After this long a row still marked running is taken to be from an attempt that crashed, and the
 * next request with its key takes it over. Longer than the 230 s the HTTP front end waits for an
 * answer, so a request that is still running within the client's view is never run twice.
 */
export const idempotencyLeaseMs = 5 * 60 * 1000;

const storedResponse = z.object({
  status: z.number().int(),
  headers: z.record(z.string(), z.string()),
  body: z.string(),
});
export type StoredResponse = z.infer<typeof storedResponse>;

const record = z.object({
  state: z.enum(["running", "done"]),
  /** The digest of the request (method, path, query and canonical body) the key was first used with. */
  requestHash: z.string(),
  startedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  response: storedResponse.optional(),
});
type IdempotencyRecord = z.infer<typeof record>;

/** Where one key of one caller on one route lives. */
export interface IdempotencyScope {
  callerId: string;
  route: string;
  key: string;
}

/** The row this attempt holds while it runs, under the ETag it wrote. */
export interface Lease {
  pk: string;
  rk: string;
  etag: string;
  record: IdempotencyRecord;
}

export type Begun =
  | { kind: "run"; lease: Lease }
  | { kind: "replay"; response: StoredResponse }
  | { kind: "otherRequest" }
  | { kind: "inProgress" };

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/**
 * The Idempotency table: one row per caller, route and key, holding the request's digest and, once
 * the first attempt answered, its answer. The partition is the route and a digest of the caller (ids
 * may be long), the row key a digest of the key (a key may hold `/`, `#` or `?`, which keys may not).
 * Azure Tables has no expiry: a row past `expiresAt` counts as absent and is overwritten when its key
 * comes again; rows of keys never used again stay (docs/idempotency.md, "Cleanup").
 */
export class IdempotencyStore {
  constructor(
    private readonly rows: RowStore,
    private readonly table: string,
  ) {}

  private where(s: IdempotencyScope) {
    return { pk: `${s.route}|${sha256(s.callerId)}`, rk: sha256(s.key) };
  }

  /**
   * Claims the key for this request (one insert when the key is new), or says what to answer instead:
   * the stored answer, 422 for another request under the key, 409 while the first still runs.
   */
  async begin(scope: IdempotencyScope, requestHash: string, now: Date): Promise<Begun> {
    const { pk, rk } = this.where(scope);
    const running: IdempotencyRecord = {
      state: "running",
      requestHash,
      startedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + idempotencyTtlMs).toISOString(),
    };
    const claim = async (op: { op: "insert" } | { op: "replace"; etag: string }): Promise<Begun | undefined> => {
      try {
        const etag = await writeOneRow(this.rows, this.table, pk, { ...op, rk, fields: encodeRow(running) });
        return { kind: "run", lease: { pk, rk, etag, record: running } };
      } catch (e) {
        if (e instanceof ConcurrencyError) return undefined; // someone else wrote the row first: look again
        throw e;
      }
    };
    // A new key costs one insert; only a key seen before is read.
    const first = await claim({ op: "insert" });
    if (first) return first;
    // Each lost race means another request wrote the row in between; after a few, it is busy.
    for (let attempt = 0; attempt < 3; attempt++) {
      const row = await this.rows.get(this.table, pk, rk);
      if (row === undefined) {
        const claimed = await claim({ op: "insert" });
        if (claimed) return claimed;
        continue;
      }
      const found = decodeRow(record, row);
      const expired = Date.parse(found.expiresAt) <= now.getTime();
      const stale = found.state === "running" && Date.parse(found.startedAt) + idempotencyLeaseMs <= now.getTime();
      if (expired || (stale && found.requestHash === requestHash)) {
        const claimed = await claim({ op: "replace", etag: row.etag ?? "" });
        if (claimed) return claimed;
        continue;
      }
      if (found.requestHash !== requestHash) return { kind: "otherRequest" };
      if (found.state === "done" && found.response) return { kind: "replay", response: found.response };
      return { kind: "inProgress" };
    }
    return { kind: "inProgress" };
  }

  /**
   * Keeps the answer under the lease's ETag. "tooLarge": the answer doesn't fit one row (1 MiB), so
   * the key is released instead and a retry runs again; "lost": a later attempt took the key over.
   */
  async complete(lease: Lease, response: StoredResponse): Promise<"stored" | "tooLarge" | "lost"> {
    const fields = encodeRow({ ...lease.record, state: "done", response } satisfies IdempotencyRecord);
    const fits =
      Object.keys(fields).length <= tableLimits.maxUserProperties &&
      entityBytes(lease.pk, lease.rk, fields) <= tableLimits.maxEntityBytes;
    if (!fits) {
      await this.release(lease);
      return "tooLarge";
    }
    try {
      await writeOneRow(this.rows, this.table, lease.pk, { op: "replace", rk: lease.rk, fields, etag: lease.etag });
      return "stored";
    } catch (e) {
      if (e instanceof ConcurrencyError) return "lost";
      throw e;
    }
  }

  /** Forgets the key (the answer is not one to replay), unless a later attempt has taken it over. */
  async release(lease: Lease): Promise<void> {
    try {
      await this.rows.delete(this.table, lease.pk, lease.rk, lease.etag);
    } catch (e) {
      if (!(e instanceof ConcurrencyError)) throw e;
    }
  }
}
