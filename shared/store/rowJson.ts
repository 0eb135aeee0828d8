import type { z } from "zod";
import type { Row } from "../ports/rows.js";

/**
 * Rows of the lifecycle tables (copies, reassignments, audits) hold one record as a `json` field,
 * as the repository's rows do, and are parsed back with their schema so a bad row never passes as data.
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

/**
 * Azure Tables holds at most 32K UTF-16 characters in a string property; records that can grow
 * (findings, results) are split so each row stays under this.
 */
export const maxJsonChars = 30_000;
