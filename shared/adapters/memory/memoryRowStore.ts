import { ConcurrencyError, invalid } from "../../errors.js";
import {
  inRange,
  partitionBounds,
  prefixEnd,
  type Page,
  type PartitionRange,
  type Row,
  type RowKeyRange,
  type RowStore,
  type WriteOp,
} from "../../ports/rows.js";
import { checkKeys, checkTransaction } from "../../ports/rowLimits.js";

interface Stored {
  fields: Row["fields"];
  etag: string;
}

/**
 * The in-memory fake of the storage port, with Table Storage's semantics (atomic transactions of one
 * partition, ETags, 1,000-row pages, continuation tokens) and its limits (`rowLimits.ts`, checked
 * before the call counts as a request, as the Azure adapter checks before sending). Used by unit
 * tests and run through the same contract suite as the Azure adapter.
 */
export class MemoryRowStore implements RowStore {
  private readonly tables = new Map<string, Map<string, Map<string, Stored>>>();
  private version = 0;
  /** Counts calls, as the Azure adapter's request counter does, so budgets can be tested on both. */
  requests = 0;
  /** When set, every call fails as if storage were down. */
  down = false;

  constructor(private readonly maxPageSize = 1000) {}

  private partition(table: string, pk: string, create: boolean): Map<string, Stored> | undefined {
    let t = this.tables.get(table);
    if (!t) {
      if (!create) return undefined;
      t = new Map();
      this.tables.set(table, t);
    }
    let p = t.get(pk);
    if (!p && create) {
      p = new Map();
      t.set(pk, p);
    }
    return p;
  }

  private touch(): void {
    this.requests++;
    if (this.down) throw new Error("storage unavailable (memory store is down)");
  }

  private nextEtag(): string {
    return `W/"${++this.version}"`;
  }

  async get(table: string, pk: string, rk: string): Promise<Row | undefined> {
    checkKeys(table, pk, rk);
    this.touch();
    const s = this.partition(table, pk, false)?.get(rk);
    return s ? { pk, rk, etag: s.etag, fields: { ...s.fields } } : undefined;
  }

  async queryPage(
    table: string,
    pk: string,
    ranges: readonly RowKeyRange[],
    options: { continuation?: string | undefined; pageSize?: number } = {},
  ): Promise<Page> {
    this.touch();
    const size = Math.min(options.pageSize ?? this.maxPageSize, this.maxPageSize);
    const after = options.continuation ? Buffer.from(options.continuation, "base64url").toString("utf8") : undefined;
    const part = this.partition(table, pk, false);
    const keys = [...(part?.keys() ?? [])]
      .filter((rk) => (after === undefined || rk > after) && ranges.some((r) => inRange(rk, r)))
      .sort();
    const taken = keys.slice(0, size);
    const rows = taken.map((rk) => {
      const s = part!.get(rk)!;
      return { pk, rk, etag: s.etag, fields: { ...s.fields } };
    });
    const last = taken[taken.length - 1];
    return {
      rows,
      continuation: keys.length > size && last !== undefined ? Buffer.from(last).toString("base64url") : undefined,
    };
  }

  async scanRange(
    table: string,
    partitions: PartitionRange,
    ranges: readonly RowKeyRange[],
    options: { continuation?: string | undefined; pageSize?: number } = {},
  ): Promise<Page> {
    this.touch();
    const size = Math.min(options.pageSize ?? this.maxPageSize, this.maxPageSize);
    const after = options.continuation === undefined ? undefined : decodeScanContinuation(options.continuation);
    const { from, to } = partitionBounds(partitions);
    const pks = [...(this.tables.get(table)?.keys() ?? [])]
      .filter((pk) => pk >= from && pk < to && (after === undefined || pk >= after[0]))
      .sort();
    const rows: Row[] = [];
    let more = false;
    for (const pk of pks) {
      const part = this.partition(table, pk, false)!;
      for (const rk of [...part.keys()].sort()) {
        if (after !== undefined && pk === after[0] && rk <= after[1]) continue;
        if (!ranges.some((r) => inRange(rk, r))) continue;
        if (rows.length === size) {
          more = true;
          break;
        }
        const s = part.get(rk)!;
        rows.push({ pk, rk, etag: s.etag, fields: { ...s.fields } });
      }
      if (more) break;
    }
    const last = rows[rows.length - 1];
    return {
      rows,
      continuation: more && last ? Buffer.from(JSON.stringify([last.pk, last.rk])).toString("base64url") : undefined,
    };
  }

  async *scanPages(table: string, rkPrefix: string, options: { pageSize?: number } = {}): AsyncIterable<Row[]> {
    const size = Math.min(options.pageSize ?? this.maxPageSize, this.maxPageSize);
    this.touch();
    const t = this.tables.get(table);
    const all: Row[] = [];
    for (const [pk, part] of [...(t?.entries() ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      for (const rk of [...part.keys()].sort()) {
        if (rk >= rkPrefix && rk < prefixEnd(rkPrefix)) {
          const s = part.get(rk)!;
          all.push({ pk, rk, etag: s.etag, fields: { ...s.fields } });
        }
      }
    }
    for (let i = 0; i < all.length; i += size) {
      if (i > 0) this.touch();
      yield all.slice(i, i + size);
    }
  }

  async transact(table: string, pk: string, ops: readonly WriteOp[]): Promise<Map<string, string>> {
    checkTransaction(table, pk, ops);
    this.touch();
    if (ops.length === 0) return new Map();
    const part = this.partition(table, pk, true)!;
    for (const o of ops) {
      const current = part.get(o.rk);
      if (o.op === "insert" && current) throw new ConcurrencyError(`row ${o.rk} already exists`);
      // As Table Storage: a batch deleting a row that isn't there fails whole (404).
      if (o.op === "delete" && !current) throw new ConcurrencyError(`row ${o.rk} does not exist`);
      if (o.op === "replace" && (!current || (o.etag !== "*" && o.etag !== current.etag))) {
        throw new ConcurrencyError(`row ${o.rk} changed since it was read`);
      }
    }
    const etags = new Map<string, string>();
    for (const o of ops) {
      if (o.op === "delete") {
        part.delete(o.rk);
      } else {
        const etag = this.nextEtag();
        part.set(o.rk, { fields: { ...o.fields }, etag });
        etags.set(o.rk, etag);
      }
    }
    return etags;
  }

  async delete(table: string, pk: string, rk: string, etag?: string): Promise<void> {
    checkKeys(table, pk, rk);
    this.touch();
    const part = this.partition(table, pk, false);
    const current = part?.get(rk);
    if (!current) return;
    if (etag !== undefined && etag !== "*" && etag !== current.etag)
      throw new ConcurrencyError(`row ${rk} changed since it was read`);
    part!.delete(rk);
  }

  async ping(): Promise<void> {
    this.touch();
  }
}

/** This fake's range-scan token: the keys of the last row given out, `[pk, rk]`. */
function decodeScanContinuation(token: string): [string, string] {
  let keys: unknown;
  try {
    keys = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    keys = undefined;
  }
  if (Array.isArray(keys) && keys.length === 2 && typeof keys[0] === "string" && typeof keys[1] === "string")
    return [keys[0], keys[1]];
  throw invalid("the continuation token is not one this API gave out", [
    { field: "query.continuationToken", message: "not a valid token" },
  ]);
}
