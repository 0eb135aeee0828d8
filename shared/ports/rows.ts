/**
 * The storage port: tables of rows addressed by partition and row key, with the guarantees of Azure
 * Table Storage that the design relies on. Two adapters implement it (Azure Tables and an in-memory
 * fake) and one contract suite checks both.
 */

/** A row: its keys, its ETag when read back, and its fields (strings, numbers, booleans). */
export interface Row {
  pk: string;
  rk: string;
  etag?: string;
  fields: Record<string, string | number | boolean>;
}

/**
 * Which row keys of a partition a query returns: one key, every key starting with a (non-empty)
 * prefix, every key from `from` (inclusive) to `to` (exclusive), or all.
 */
export type RowKeyRange = { eq: string } | { prefix: string } | { from: string; to: string } | { all: true };

/**
 * Which partitions a range scan reads: every partition whose key starts with `pkPrefix` (not empty;
 * end it with the separator, `env1|`, so it can't match `env10|…`), from `fromPk` on when given.
 */
export interface PartitionRange {
  pkPrefix: string;
  /** Start at this partition key (inclusive) rather than at the prefix: where a stopped walk resumes. */
  fromPk?: string | undefined;
}

/** The partition keys a range scan reads: `from` (inclusive) up to `to` (exclusive). */
export function partitionBounds(p: PartitionRange): { from: string; to: string } {
  const to = prefixEnd(p.pkPrefix);
  return { from: p.fromPk !== undefined && p.fromPk > p.pkPrefix ? p.fromPk : p.pkPrefix, to };
}

export interface Page {
  rows: Row[];
  /** Present when more rows may follow; opaque. */
  continuation?: string | undefined;
}

export type WriteOp =
  | { op: "insert"; rk: string; fields: Row["fields"] }
  | { op: "upsert"; rk: string; fields: Row["fields"] }
  /** Replace a row that must exist with this ETag ("*" for any). */
  | { op: "replace"; rk: string; fields: Row["fields"]; etag: string }
  /** Deletes inside a transaction carry no ETag (the Tables SDK sends none); guard with a replace in the same transaction. */
  | { op: "delete"; rk: string };

export interface RowStore {
  /** One point read; undefined when absent. */
  get(table: string, pk: string, rk: string): Promise<Row | undefined>;
  /** One request: rows of one partition matching any of the ranges, in row key order, one page. */
  queryPage(
    table: string,
    pk: string,
    ranges: readonly RowKeyRange[],
    options?: { continuation?: string | undefined; pageSize?: number },
  ): Promise<Page>;
  /**
   * One request: the rows of every partition in `partitions` whose row key is in any of the ranges,
   * in (partition key, row key) order, one page. Storage may answer a short or even empty page with
   * a continuation; only a page without one is the last.
   */
  scanRange(
    table: string,
    partitions: PartitionRange,
    ranges: readonly RowKeyRange[],
    options?: { continuation?: string | undefined; pageSize?: number },
  ): Promise<Page>;
  /** Rows whose row key starts with a prefix, across every partition, page by page. */
  scanPages(table: string, rkPrefix: string, options?: { pageSize?: number }): AsyncIterable<Row[]>;
  /**
   * An entity-group transaction: all operations on one partition succeed or none does. At most 100
   * operations, each row key once. Throws ConcurrencyError on an ETag mismatch or an insert of an
   * existing row. Returns the new ETags by row key: always for a one-row write; in a larger
   * transaction inserted rows have theirs, replaced and upserted rows may not (Azurite omits them).
   */
  transact(table: string, pk: string, ops: readonly WriteOp[]): Promise<Map<string, string>>;
  /** Deletes one row if present; with an ETag, only that version (ConcurrencyError otherwise). */
  delete(table: string, pk: string, rk: string, etag?: string): Promise<void>;
  /** Cheap liveness probe of the storage account. */
  ping(): Promise<void>;
}

/** The end of a prefix range: the smallest string greater than every string that starts with `prefix`. */
export function prefixEnd(prefix: string): string {
  if (prefix === "") throw new Error("an empty prefix has no end: use the { all: true } range");
  const last = prefix.charCodeAt(prefix.length - 1);
  const rest = prefix.slice(0, -1);
  // The bound goes into a request URL, so it must stay well-formed UTF-16: a lone surrogate can't be
  // percent-encoded. Strings compare by UTF-16 unit, and only lone surrogates sort in the gaps skipped here.
  if (last === 0xffff) return prefixEnd(rest);
  if (last === 0xd7ff) return `${rest}\u{10000}`;
  const high = rest.charCodeAt(rest.length - 1);
  if (last >= 0xdc00 && last <= 0xdfff && high >= 0xd800 && high <= 0xdbff) {
    const codePoint = prefix.codePointAt(prefix.length - 2) ?? 0;
    return rest.slice(0, -1) + (codePoint === 0x10ffff ? "\ue000" : String.fromCodePoint(codePoint + 1));
  }
  return rest + String.fromCharCode(last + 1);
}

export function inRange(rk: string, range: RowKeyRange): boolean {
  if ("all" in range) return true;
  if ("from" in range) return rk >= range.from && rk < range.to;
  return "eq" in range ? rk === range.eq : rk >= range.prefix && rk < prefixEnd(range.prefix);
}

/** Every page of a partition query, following continuation tokens (short and empty pages included). */
export async function queryAll(
  store: RowStore,
  table: string,
  pk: string,
  ranges: readonly RowKeyRange[],
): Promise<Row[]> {
  const rows: Row[] = [];
  let continuation: string | undefined;
  do {
    const page = await store.queryPage(table, pk, ranges, { continuation });
    rows.push(...page.rows);
    continuation = page.continuation;
  } while (continuation);
  return rows;
}
