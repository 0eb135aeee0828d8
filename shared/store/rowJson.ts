import type { z } from "zod";
import { ConcurrencyError } from "../errors.js";
import type { Row, RowStore, WriteOp } from "../ports/rows.js";

/**
 * The one row codec of every table: a row holds one record as JSON in its `json` field, and is parsed
 * back with the record's schema so a bad row never passes as data. Only this module knows the field's
 * name; stored rows must keep it, or existing data stops reading.
 */
export function encodeRow(value: unknown): Row["fields"] {
  return { json: JSON.stringify(value) };
}

export function decodeRow<T>(schema: z.ZodType<T>, row: Row): T {
  const json = row.fields.json;
  if (typeof json !== "string") throw new Error(`row ${row.pk}/${row.rk} has no json field`);
  const parsed = schema.safeParse(JSON.parse(json));
  if (!parsed.success) throw new Error(`row ${row.pk}/${row.rk} does not match its schema: ${parsed.error.message}`);
  return parsed.data;
}

/** True when two encoded rows hold the same record, byte for byte (a write can then be skipped or recognised). */
export function sameRecord(a: Row["fields"], b: Row["fields"]): boolean {
  return a.json === b.json;
}

/** How many characters a value takes once encoded, to keep records that grow under `maxJsonChars`. */
export function encodedLength(value: unknown): number {
  return JSON.stringify(value).length;
}

/**
 * Azure Tables holds at most 32K UTF-16 characters in a string property; records that can grow
 * (findings, results) are split so each row stays under this.
 */
export const maxJsonChars = 30_000;

/**
 * Writes one row in a transaction and returns its new ETag. The Tables service (Azurite, at least)
 * answers an update inside a batch without an ETag, so when none comes back the row is read again:
 * if it still holds exactly what was written, that read's ETag is ours; if not, another writer got in
 * between, which is a lost race like an ETag mismatch.
 */
export async function writeOneRow(
  rows: RowStore,
  table: string,
  pk: string,
  op: Extract<WriteOp, { op: "insert" | "replace" | "upsert" }>,
): Promise<string> {
  const etags = await rows.transact(table, pk, [op]);
  const etag = etags.get(op.rk);
  if (etag !== undefined) return etag;
  const row = await rows.get(table, pk, op.rk);
  if (!row?.etag || !sameRecord(row.fields, op.fields))
    throw new ConcurrencyError(`row ${pk}/${op.rk} was written by someone else right after this write`);
  return row.etag;
}
