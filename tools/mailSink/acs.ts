/**
 * The part of the Azure Communication Services email REST API the sink speaks: the send body, the
 * Operation-Id, the HMAC request signature and the error envelope (`{ error: { code, message } }`
 * plus `x-ms-error-code`), as the real `@azure/communication-email` client expects them.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";

// ACS refuses requests over 10 MB (attachments included).
export const maxBodyBytes = 10 * 1024 * 1024;

const emailAddressSchema = z.object({ address: z.email(), displayName: z.string().optional() });
/** The body of `POST /emails:send` (ACS `EmailMessage`); unknown fields pass, as newer SDKs may add some. */
export const sendRequestSchema = z.object({
  senderAddress: z.email(),
  content: z
    .object({ subject: z.string().min(1), plainText: z.string().optional(), html: z.string().optional() })
    .refine((c) => c.plainText !== undefined || c.html !== undefined, {
      message: "plainText or html is required",
      path: ["plainText"],
    }),
  recipients: z.object({
    to: z.array(emailAddressSchema).min(1),
    cc: z.array(emailAddressSchema).optional(),
    bcc: z.array(emailAddressSchema).optional(),
  }),
  replyTo: z.array(emailAddressSchema).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  attachments: z.array(z.object({ name: z.string(), contentType: z.string(), contentInBase64: z.string() })).optional(),
  userEngagementTrackingDisabled: z.boolean().optional(),
});
/** A parsed `POST /emails:send` body. */
export type SendRequest = z.infer<typeof sendRequestSchema>;

// ACS takes any 8-4-4-4-12 hex GUID, not only RFC 9562 versions.
export const operationIdSchema = z.guid();

// ---------------------------------------------------------------------------------------------
// HMAC authentication, as @azure/communication-common signs: the signature is HMAC-SHA256, keyed with
// the decoded access key, over `VERB\n<path>?<query>\n<x-ms-date>;<host>;<x-ms-content-sha256>`, where
// the query is URLSearchParams-serialized and the content hash is the base64 SHA-256 of the body.

// The scheme of @azure/communication-common's createCommunicationAccessKeyCredentialPolicy.
const signedHeaders = "x-ms-date;host;x-ms-content-sha256";
const authorizationPattern = /^HMAC-SHA256 SignedHeaders=([^&]+)&Signature=([A-Za-z0-9+/=]+)$/;
const maxClockSkewMs = 15 * 60 * 1000;

/** Checks a request's HMAC signature against the decoded access key. */
export function verifyHmac(
  req: Pick<IncomingMessage, "method" | "headers">,
  url: URL,
  body: Buffer,
  key: Buffer,
  nowMs: number,
): { ok: true } | { ok: false; reason: string } {
  const date = req.headers["x-ms-date"];
  const contentHash = req.headers["x-ms-content-sha256"];
  const host = req.headers.host;
  const authorization = req.headers.authorization;
  if (
    typeof date !== "string" ||
    typeof contentHash !== "string" ||
    typeof host !== "string" ||
    typeof authorization !== "string"
  ) {
    return { ok: false, reason: "x-ms-date, x-ms-content-sha256, host and Authorization are required" };
  }
  const dateMs = Date.parse(date);
  if (Number.isNaN(dateMs) || Math.abs(nowMs - dateMs) > maxClockSkewMs) {
    return { ok: false, reason: "x-ms-date is missing, malformed or more than 15 minutes off" };
  }
  if (!safeEqual(contentHash, createHash("sha256").update(body).digest("base64"))) {
    return { ok: false, reason: "x-ms-content-sha256 does not match the body" };
  }
  const match = authorizationPattern.exec(authorization);
  if (!match || match[1] !== signedHeaders) {
    return { ok: false, reason: `Authorization must be "HMAC-SHA256 SignedHeaders=${signedHeaders}&Signature=…"` };
  }
  const query = url.searchParams.toString();
  const pathAndQuery = query ? `${url.pathname}?${query}` : url.pathname;
  const stringToSign = `${(req.method ?? "").toUpperCase()}\n${pathAndQuery}\n${date};${host};${contentHash}`;
  const expected = createHmac("sha256", key).update(stringToSign).digest("base64");
  if (!safeEqual(match[2] ?? "", expected)) return { ok: false, reason: "the signature does not match" };
  return { ok: true };
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

// ---------------------------------------------------------------------------------------------
// Responses

/** The ACS error envelope. */
export function acsError(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

/** Sends JSON; an error status also carries the envelope's code in `x-ms-error-code`, as ACS does. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const errorCode = status >= 400 ? { "x-ms-error-code": errorCodeOf(body) } : {};
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    ...errorCode,
    ...headers,
  });
  res.end(JSON.stringify(body));
}

function errorCodeOf(body: unknown): string {
  const parsed = z.object({ error: z.object({ code: z.string() }) }).safeParse(body);
  return parsed.success ? parsed.data.error.code : "Error";
}

export function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendJson(res, 405, acsError("MethodNotAllowed", `use ${allow}`), { allow });
}
