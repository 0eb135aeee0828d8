import type { z } from "zod";
import { ConcurrencyError } from "../errors.js";
import { tableLimits } from "../ports/rowLimits.js";
import type { Row, RowStore, WriteOp } from "../ports/rows.js";

/**
 * The one row codec of every table: a row holds one record as JSON in its `json` field, and is parsed
 * back with the record's schema so a bad row never passes as data. A string property holds at most
 * 32,768 characters, so longer JSON continues in `json1`, `json2`, …: a row then holds up to the
 * 1 MiB of an entity (`rowLimits.ts`), and records short enough for `json` alone are stored as they
 * always were. Only this module knows the fields' names; stored rows must keep them, or existing
 * data stops reading. (Every write replaces the whole row, so no part of a longer record outlives it.)
 */
export function encodeRow(value: unknown): Row["fields"] {
  const json = JSON.stringify(value);
  const fields: Row["fields"] = {};
  for (let at = 0, part = 0; at < json.length || part === 0; part++) {
    let end = Math.min(at + tableLimits.maxStringChars, json.length);
    // Never between the two halves of a surrogate pair: each part must be well-formed text.
    if (end < json.length && isHighSurrogate(json.charCodeAt(end - 1))) end--;
    fields[part === 0 ? "json" : `json${part}`] = json.slice(at, end);
    at = end;
  }
  return fields;
}

/** The record's JSON, its parts joined. */
function jsonOf(row: Row): string | undefined {
  const first = row.fields.json;
  if (typeof first !== "string") return undefined;
  let json = first;
  for (let part = 1; typeof row.fields[`json${part}`] === "string"; part++) json += String(row.fields[`json${part}`]);
  return json;
}

export function decodeRow<T>(schema: z.ZodType<T>, row: Row): T {
  const json = jsonOf(row);
  if (json === undefined) throw new Error(`row ${row.pk}/${row.rk} has no json field`);
  const parsed = schema.safeParse(JSON.parse(json));
  if (!parsed.success) throw new Error(`row ${row.pk}/${row.rk} does not match its schema: ${parsed.error.message}`);
  return parsed.data;
}

/** True when two encoded rows hold the same record, byte for byte (a write can then be skipped or recognised). */
export function sameRecord(a: Row["fields"], b: Row["fields"]): boolean {
  const names = Object.keys(a);
  return names.length === Object.keys(b).length && names.every((n) => a[n] === b[n]);
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/** How many characters a value takes once encoded, to keep records that grow under `maxJsonChars`. */
export function encodedLength(value: unknown): number {
  return JSON.stringify(value).length;
}

/**
 * What a record that grows without bound (findings, results) is split at, so each stays one `json`
 * property: well under the 32,768 characters of a string property.
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
