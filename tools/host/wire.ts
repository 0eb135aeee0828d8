/**
 * Responses on the wire: what a handler returned turned into bytes as the non-streaming Functions
 * host sends them, and the host's own problem+json answers (404, 405, 413, 500).
 */
import type { ServerResponse } from "node:http";
import functionsLibrary from "@azure/functions";

// The library is a webpack CommonJS bundle: Node's ESM loader sees `app` and `output` as named
// exports but not the classes, so they come from the default export (module.exports).
const { HttpResponse } = functionsLibrary;

/** A response ready to write: what the Functions host gets back from a non-streaming worker. */
export interface WireResponse {
  status: number;
  headers: Headers;
  body: Buffer | undefined;
}

const nullBodyStatuses = new Set([204, 205, 304]);

/** Answers with `application/problem+json`; a response already under way is cut instead. */
export function sendProblem(
  res: ServerResponse,
  status: number,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ type: "about:blank", title, status, detail, ...extra });
  res.writeHead(status, { "content-type": "application/problem+json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Turns what a handler returned into a response, as the library's `toRpcHttp` does: an
 * `HttpResponse` as is, any other object through `new HttpResponse(init)`, buffered. The plain
 * `{status, headers, body: string | bytes | jsonBody}` the app returns skips the fetch `Response`
 * and its stream, with the same result (status range, header validation, default content types).
 */
export async function toWireResponse(value: unknown): Promise<WireResponse | undefined> {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object") {
    throw new Error(
      'The HTTP response must be an object with optional properties "body", "status", "headers", and "cookies".',
    );
  }
  if (!(value instanceof HttpResponse)) {
    const plain = plainWireResponse(value);
    if (plain !== undefined) return plain;
  }
  const response = value instanceof HttpResponse ? value : new HttpResponse(value);
  // The app sets no cookies; rather than emulate their serialization, refuse them visibly.
  if (response.cookies.length > 0) throw new Error("response cookies are not supported by the local host");
  const body =
    nullBodyStatuses.has(response.status) || response.body === null
      ? undefined
      : Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body };
}

/** The fast path of `toWireResponse`; undefined when the value needs the full `HttpResponse`. */
function plainWireResponse(init: object): WireResponse | undefined {
  const status = "status" in init && init.status !== undefined ? init.status : 200;
  if (typeof status !== "number" || !Number.isInteger(status) || status < 200 || status > 599) return undefined;
  if ("cookies" in init && init.cookies !== undefined) return undefined;
  if ("enableContentNegotiation" in init && init.enableContentNegotiation) return undefined;

  const headersInit = "headers" in init ? init.headers : undefined;
  const headers = new Headers();
  if (headersInit !== undefined && headersInit !== null) {
    if (typeof headersInit !== "object" || Array.isArray(headersInit) || headersInit instanceof Headers)
      return undefined;
    for (const [name, headerValue] of Object.entries(headersInit)) {
      if (typeof headerValue !== "string") return undefined;
      headers.append(name, headerValue);
    }
  }
  const nullBody = nullBodyStatuses.has(status);
  const jsonBody = "jsonBody" in init ? init.jsonBody : undefined;
  if (jsonBody !== undefined && jsonBody !== null && !nullBody) {
    const text: unknown = JSON.stringify(jsonBody);
    if (typeof text !== "string") return undefined;
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    return { status, headers, body: Buffer.from(text, "utf8") };
  }
  const body = "body" in init ? init.body : undefined;
  if (nullBody || body === undefined || body === null) return { status, headers, body: undefined };
  if (typeof body === "string") {
    if (!headers.has("content-type")) headers.set("content-type", "text/plain;charset=UTF-8");
    return { status, headers, body: Buffer.from(body, "utf8") };
  }
  if (body instanceof Uint8Array)
    return { status, headers, body: Buffer.from(body.buffer, body.byteOffset, body.byteLength) };
  return undefined;
}

/** Writes the response in one piece with an exact length, as the non-streaming host does. */
export function writeWireResponse(res: ServerResponse, response: WireResponse | undefined, method: string): void {
  if (response === undefined) {
    // Nothing returned: an empty success, without a body.
    res.writeHead(204).end();
    return;
  }
  const { status } = response;
  for (const [name, value] of response.headers) {
    if (name !== "set-cookie") res.setHeader(name, value);
  }
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader("set-cookie", cookies);
  if (method === "HEAD" || nullBodyStatuses.has(status)) {
    res.writeHead(status).end();
    return;
  }
  const body = response.body ?? Buffer.alloc(0);
  res.setHeader("content-length", body.length);
  res.writeHead(status).end(body);
}
