import type { z } from "zod";
import { invalid } from "../errors.js";

/**
 * Continuation tokens this API gives out: a small JSON record (which table or bucket a listing walks,
 * and the storage's own token in it), base64url-encoded. Decoding checks the record against its
 * schema, so a token a caller made up is a 400 naming the parameter, never a storage error.
 */
export function encodePageToken(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

export function decodePageToken<T>(schema: z.ZodType<T>, token: string): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  const t = schema.safeParse(parsed);
  if (!t.success)
    throw invalid("the continuation token is not one this API gave out", [
      { field: "query.continuationToken", message: "not a valid token" },
    ]);
  return t.data;
}
