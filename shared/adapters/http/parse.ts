import type { z } from "zod";
import { invalid, type FieldError } from "../../errors.js";

export const maxBodyBytes = 256 * 1024;

/** Zod issues as field errors, each path prefixed with where it came from (`body`, `params`, `query`). */
export function fieldErrors(where: string, error: z.ZodError): FieldError[] {
  return error.issues.map((i) => ({
    field: [where, ...i.path.map(String)].reduce((acc, seg) =>
      /^\d+$/.test(seg) ? `${acc}[${seg}]` : `${acc}.${seg}`,
    ),
    message: i.message,
  }));
}

export function parseWith<T>(where: string, schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) throw invalid(`the request's ${where} is not valid`, fieldErrors(where, result.error));
  return result.data;
}

/** The body as JSON: present, within the size limit, of JSON media type, and parseable. */
export function parseJsonText(text: string, contentType: string | null, limit = maxBodyBytes): unknown {
  if (Buffer.byteLength(text) > limit)
    throw invalid(`the body is larger than ${limit} bytes`, [{ field: "body", message: "too large" }]);
  if (contentType && !/^application\/([a-z.+-]*\+)?json\b/i.test(contentType.trim())) {
    throw invalid("the body must be JSON", [
      { field: "header.content-type", message: `must be application/json, not ${contentType.slice(0, 100)}` },
    ]);
  }
  if (text.trim() === "") throw invalid("a JSON body is required", [{ field: "body", message: "missing" }]);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalid("the body is not valid JSON", [{ field: "body", message: "not valid JSON" }]);
  }
}
