/**
 * A local stand-in for Azure Communication Services email: it speaks enough of the ACS email REST API
 * (HMAC auth included) for the real `@azure/communication-email` client to send to it, keeps every
 * message, shows them on a small web page, and stands in for the product (`/app/*`) that accepting an
 * invitation redirects to.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { escapeHtml } from "../shared/emails/html.js";

/** One email the sink accepted. */
export interface SinkMessage {
  /** The `Operation-Id` the client sent; the sink keeps one message per id. */
  operationId: string;
  /** When the first accepted POST for this id arrived (ISO 8601). */
  receivedAt: string;
  /** The sender address. */
  from: string;
  /** The `to` addresses. */
  to: string[];
  /** The subject line. */
  subject: string;
  /** The plain-text body ("" when the email had none). */
  plainText: string;
  /** The HTML body ("" when the email had none). */
  html: string;
  /** How many authenticated send POSTs carried this `Operation-Id`, injected failures included. */
  attempts: number;
}

/** Statuses {@link MailSink.failNext} can inject. */
export type InjectedFailureStatus = 429 | 500 | 503;

/** A running sink. */
export interface MailSink {
  /** Base URL, e.g. `http://127.0.0.1:54321` (no trailing slash). */
  url: string;
  /** `endpoint=<url>/;accesskey=<key>`, ready for `EmailClient` or the app's `ACS_CONNECTION_STRING`. */
  connectionString: string;
  /** The base64 access key requests must be signed with. */
  accessKey: string;
  /** Every accepted message, newest first (copies). */
  messages(): SinkMessage[];
  /**
   * How many authenticated send POSTs carried `operationId`, including those answered with an
   * injected failure (so a test can see retries even when nothing was stored).
   */
  attempts(operationId: string): number;
  /**
   * The next `count` authenticated send POSTs answer `status` without storing anything. A 429 always
   * carries `Retry-After` (default 0 s); a 500/503 carries it only when `retryAfterSeconds` is given.
   * Calls queue up in order.
   */
  failNext(status: InjectedFailureStatus, count: number, retryAfterSeconds?: number): void;
  /**
   * The next `count` accepted sends are answered 202 as usual but their operation ends `Failed`
   * (as ACS does for, e.g., a suppressed recipient) and nothing is stored.
   */
  failNextOperations(count: number): void;
  /** Forgets every message, operation, attempt count and pending injected failure. */
  clear(): void;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** Options of {@link startMailSink}. */
export interface MailSinkOptions {
  /** Interface to listen on (default `127.0.0.1`; the sink has no auth on its pages, keep it local). */
  host?: string;
  /** Port (default 0: any free port). */
  port?: number;
  /** Base64 access key (default: 32 random bytes). */
  accessKey?: string;
}

// The HMAC scheme of @azure/communication-common's createCommunicationAccessKeyCredentialPolicy.
const signedHeaders = "x-ms-date;host;x-ms-content-sha256";
const authorizationPattern = /^HMAC-SHA256 SignedHeaders=([^&]+)&Signature=([A-Za-z0-9+/=]+)$/;
const maxClockSkewMs = 15 * 60 * 1000;
// ACS refuses requests over 10 MB (attachments included).
const maxBodyBytes = 10 * 1024 * 1024;
const base64Pattern = /^[A-Za-z0-9+/]+={0,2}$/;

const emailAddressSchema = z.object({ address: z.email(), displayName: z.string().optional() });
/** The body of `POST /emails:send` (ACS `EmailMessage`); unknown fields pass, as newer SDKs may add some. */
const sendRequestSchema = z.object({
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
// ACS takes any 8-4-4-4-12 hex GUID, not only RFC 9562 versions.
const operationIdSchema = z.guid();

type OperationStatus = "Running" | "Succeeded" | "Failed";
interface OperationRecord {
  id: string;
  status: OperationStatus;
  error?: { code: string; message: string };
}
type StoredMessage = Omit<SinkMessage, "attempts">;

/** Starts a sink and resolves once it listens. */
export async function startMailSink(options: MailSinkOptions = {}): Promise<MailSink> {
  const { host = "127.0.0.1", port = 0 } = options;
  const accessKey = options.accessKey ?? randomBytes(32).toString("base64");
  if (!base64Pattern.test(accessKey)) throw new Error("mail sink accessKey must be base64");
  const key = Buffer.from(accessKey, "base64");

  const stored: StoredMessage[] = [];
  const operations = new Map<string, OperationRecord>();
  const attemptCounts = new Map<string, number>();
  const pendingFailures: { status: InjectedFailureStatus; remaining: number; retryAfterSeconds?: number }[] = [];
  let pendingFailedOperations = 0;

  const messages = (): SinkMessage[] =>
    stored.map((m) => ({ ...m, to: [...m.to], attempts: attemptCounts.get(m.operationId) ?? 0 })).reverse();

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, acsError("InternalServerError", String(error)));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sink.invalid");
    const path = url.pathname;
    const method = req.method ?? "GET";

    if (path === "/emails:send") {
      if (method !== "POST") return methodNotAllowed(res, "POST");
      return handleSend(req, res, url);
    }
    const operationMatch = /^\/emails\/operations\/([^/]+)$/.exec(path);
    if (operationMatch) {
      if (method !== "GET") return methodNotAllowed(res, "GET");
      return handleOperation(req, res, url, decodeSegment(operationMatch[1] ?? ""));
    }
    if (path === "/messages") {
      if (method === "GET") {
        // `?to=` lets parallel end-to-end tests look only at their own recipient.
        const to = url.searchParams.get("to")?.toLowerCase();
        const list = messages().filter((m) => to === undefined || m.to.some((a) => a.toLowerCase() === to));
        return sendJson(res, 200, list);
      }
      if (method === "DELETE") {
        clear();
        res.writeHead(204).end();
        return;
      }
      return methodNotAllowed(res, "GET, DELETE");
    }
    if (method !== "GET" && method !== "HEAD") return methodNotAllowed(res, "GET");
    if (path === "/") return sendHtml(res, 200, renderIndex(messages()));
    if (path === "/sink.css") return sendCss(res);
    if (path === "/health") return sendJson(res, 200, { status: "ok" });
    const messageMatch = /^\/messages\/([^/]+)$/.exec(path);
    if (messageMatch) {
      const id = decodeSegment(messageMatch[1] ?? "");
      const message = messages().find((m) => m.operationId === id);
      return message ? sendHtml(res, 200, renderMessage(message)) : sendHtml(res, 404, renderNotFound(path));
    }
    if (path === "/app" || path.startsWith("/app/")) return sendHtml(res, 200, renderApp(url));
    return sendHtml(res, 404, renderNotFound(path));
  }

  async function handleSend(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const body = await readBody(req);
    if (body === undefined) return sendJson(res, 413, acsError("RequestEntityTooLarge", "the request is over 10 MB"));
    const auth = verifyHmac(req, url, body, key, Date.now());
    if (!auth.ok) return sendJson(res, 401, acsError("Unauthorized", auth.reason));

    const apiVersion = url.searchParams.get("api-version");
    const operationIdHeader = req.headers["operation-id"];
    const operationId = operationIdSchema.safeParse(operationIdHeader);
    if (operationId.success) attemptCounts.set(operationId.data, (attemptCounts.get(operationId.data) ?? 0) + 1);

    const injected = takeInjectedFailure();
    if (injected) {
      const headers: Record<string, string> = {};
      const retryAfter = injected.retryAfterSeconds ?? (injected.status === 429 ? 0 : undefined);
      if (retryAfter !== undefined) headers["retry-after"] = String(retryAfter);
      const code =
        injected.status === 429
          ? "TooManyRequests"
          : injected.status === 503
            ? "ServiceUnavailable"
            : "InternalServerError";
      return sendJson(res, injected.status, acsError(code, "failure injected by failNext"), headers);
    }

    if (!apiVersion)
      return sendJson(res, 400, acsError("MissingApiVersionParameter", "the api-version query parameter is required"));
    if (!operationId.success) {
      return sendJson(res, 400, acsError("InvalidOperationId", "the Operation-Id header must be a GUID"));
    }
    const parsed = parseJson(body);
    if (!parsed.ok) return sendJson(res, 400, acsError("InvalidRequestBody", "the body is not valid JSON"));
    const message = sendRequestSchema.safeParse(parsed.value);
    if (!message.success) {
      return sendJson(res, 400, {
        error: {
          code: "InvalidRequestBody",
          message: "the email message is not valid",
          details: message.error.issues.map((i) => ({
            code: "InvalidValue",
            message: i.message,
            target: i.path.join("."),
          })),
        },
      });
    }

    const id = operationId.data;
    // A repeated Operation-Id is answered as the first one was, and stored once.
    if (!operations.has(id)) {
      if (pendingFailedOperations > 0) {
        pendingFailedOperations -= 1;
        operations.set(id, {
          id,
          status: "Failed",
          error: { code: "EmailDroppedAllRecipientsSuppressed", message: "failure injected by failNextOperations" },
        });
      } else {
        operations.set(id, { id, status: "Succeeded" });
        const { senderAddress, content, recipients } = message.data;
        stored.push({
          operationId: id,
          receivedAt: new Date().toISOString(),
          from: senderAddress,
          to: recipients.to.map((r) => r.address),
          subject: content.subject,
          plainText: content.plainText ?? "",
          html: content.html ?? "",
        });
      }
    }
    // The signed host is the one the client used, so it is also the one it can poll.
    const base = typeof req.headers.host === "string" ? `http://${req.headers.host}` : sinkUrl;
    const location = `${base}/emails/operations/${encodeURIComponent(id)}?api-version=${encodeURIComponent(apiVersion)}`;
    return sendJson(res, 202, { id, status: "Running" }, { "operation-location": location, "retry-after": "0" });
  }

  async function handleOperation(req: IncomingMessage, res: ServerResponse, url: URL, id: string): Promise<void> {
    const body = await readBody(req);
    if (body === undefined) return sendJson(res, 413, acsError("RequestEntityTooLarge", "the request is over 10 MB"));
    const auth = verifyHmac(req, url, body, key, Date.now());
    if (!auth.ok) return sendJson(res, 401, acsError("Unauthorized", auth.reason));
    const record = operations.get(id);
    if (!record) return sendJson(res, 404, acsError("NotFound", `no email operation ${id}`));
    return sendJson(res, 200, record);
  }

  function takeInjectedFailure(): { status: InjectedFailureStatus; retryAfterSeconds?: number } | undefined {
    const next = pendingFailures[0];
    if (!next) return undefined;
    next.remaining -= 1;
    if (next.remaining <= 0) pendingFailures.shift();
    return next;
  }

  function clear(): void {
    stored.length = 0;
    operations.clear();
    attemptCounts.clear();
    pendingFailures.length = 0;
    pendingFailedOperations = 0;
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("mail sink is not listening on TCP");
  const sinkUrl = `http://${urlHost(address)}:${address.port}`;

  return {
    url: sinkUrl,
    connectionString: `endpoint=${sinkUrl}/;accesskey=${accessKey}`,
    accessKey,
    messages,
    attempts: (operationId) => attemptCounts.get(operationId) ?? 0,
    failNext(status, count, retryAfterSeconds) {
      if (![429, 500, 503].includes(status))
        throw new RangeError(`failNext status must be 429, 500 or 503, got ${status}`);
      if (!Number.isInteger(count) || count < 0)
        throw new RangeError(`failNext count must be a whole number, got ${count}`);
      if (retryAfterSeconds !== undefined && !(Number.isInteger(retryAfterSeconds) && retryAfterSeconds >= 0)) {
        throw new RangeError(`failNext retryAfterSeconds must be a whole number, got ${retryAfterSeconds}`);
      }
      if (count > 0)
        pendingFailures.push(
          retryAfterSeconds === undefined
            ? { status, remaining: count }
            : { status, remaining: count, retryAfterSeconds },
        );
    },
    failNextOperations(count) {
      if (!Number.isInteger(count) || count < 0)
        throw new RangeError(`failNextOperations count must be a whole number, got ${count}`);
      pendingFailedOperations += count;
    },
    clear,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets from SDK clients would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// HMAC authentication, as @azure/communication-common signs: the signature is HMAC-SHA256, keyed with
// the decoded access key, over `VERB\n<path>?<query>\n<x-ms-date>;<host>;<x-ms-content-sha256>`, where
// the query is URLSearchParams-serialized and the content hash is the base64 SHA-256 of the body.

/** Checks a request's HMAC signature. */
function verifyHmac(
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
// HTTP helpers

/** Resolves the body, or undefined when it exceeds the ACS size limit. */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    const value: unknown = JSON.parse(body.toString("utf8"));
    return { ok: true, value };
  } catch {
    return { ok: false };
  }
}

function acsError(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
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

function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendJson(res, 405, acsError("MethodNotAllowed", `use ${allow}`), { allow });
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function urlHost(address: AddressInfo): string {
  // A wildcard address is not somewhere a browser or client can go; loopback is.
  if (address.address === "0.0.0.0") return "127.0.0.1";
  if (address.address === "::") return "[::1]";
  return address.family === "IPv6" ? `[${address.address}]` : address.address;
}

// ---------------------------------------------------------------------------------------------
// Pages. No script anywhere; everything interpolated goes through escapeHtml.
//
// The email's HTML is shown in a sandboxed srcdoc iframe. A srcdoc document inherits this policy, so
// the policy also governs the email: inline styles (which emails live on) and remote images are
// allowed, scripts never are (and the sandbox, lacking allow-scripts, blocks them a second time).
const contentSecurityPolicy = [
  "default-src 'none'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: http: https:",
  "frame-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
].join("; ");

const iframeSandbox = "allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation";

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": contentSecurityPolicy,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
  });
  res.end(html);
}

function sendCss(res: ServerResponse): void {
  res.writeHead(200, {
    "content-type": "text/css; charset=utf-8",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
  });
  res.end(stylesheet);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/sink.css">
</head>
<body>
${body}
</body>
</html>
`;
}

function renderIndex(list: SinkMessage[]): string {
  const items = list
    .map(
      (m) => `<li class="message" data-testid="message">
<a href="/messages/${escapeHtml(encodeURIComponent(m.operationId))}"><span class="subject">${escapeHtml(m.subject)}</span></a>
<span class="meta">to ${escapeHtml(m.to.join(", "))} · <time datetime="${escapeHtml(m.receivedAt)}">${escapeHtml(m.receivedAt)}</time></span>
</li>`,
    )
    .join("\n");
  return page(
    "Mail sink",
    `<header><h1>Mail sink</h1><a href="/">Refresh</a></header>
<main>
<p class="meta">${list.length} message${list.length === 1 ? "" : "s"}, newest first.</p>
${list.length ? `<ul class="messages">\n${items}\n</ul>` : "<p>No mail yet.</p>"}
</main>`,
  );
}

function renderMessage(m: SinkMessage): string {
  const links = extractLinks(m);
  const linkItems = links
    .map((href) =>
      isNavigable(href)
        ? `<li><a data-testid="email-link" href="${escapeHtml(href)}">${escapeHtml(href)}</a></li>`
        : // An escaped javascript: URL is still a javascript: URL; show it, never make it clickable.
          `<li><code>${escapeHtml(href)}</code> (not a web link)</li>`,
    )
    .join("\n");
  // Prepended so it is the document's first base element: links in the mail leave the sandbox and
  // open in the sink's own tab, as they would from a mail client, instead of inside the frame.
  const srcdoc = `<base target="_top">${m.html}`;
  return page(
    m.subject,
    `<header><a href="/">← All mail</a></header>
<main>
<h1 data-testid="subject">${escapeHtml(m.subject)}</h1>
<dl class="meta">
<dt>From</dt><dd>${escapeHtml(m.from)}</dd>
<dt>To</dt><dd data-testid="to">${escapeHtml(m.to.join(", "))}</dd>
<dt>Received</dt><dd><time datetime="${escapeHtml(m.receivedAt)}">${escapeHtml(m.receivedAt)}</time></dd>
<dt>Operation</dt><dd><code>${escapeHtml(m.operationId)}</code> (${m.attempts} POST${m.attempts === 1 ? "" : "s"})</dd>
</dl>
<h2>Links</h2>
${links.length ? `<ul class="links">\n${linkItems}\n</ul>` : "<p>No links.</p>"}
<h2>HTML</h2>
${m.html ? `<iframe class="html-body" title="HTML body" data-testid="html-body" sandbox="${iframeSandbox}" referrerpolicy="no-referrer" srcdoc="${escapeHtml(srcdoc)}"></iframe>` : "<p>No HTML body.</p>"}
<h2>Plain text</h2>
<pre data-testid="plain-text">${escapeHtml(m.plainText)}</pre>
</main>`,
  );
}

function renderApp(url: URL): string {
  const segments = url.pathname.split("/").filter(Boolean).slice(1).map(decodeSegment);
  return page(
    "Product stand-in",
    `<header><a href="/">Mail sink</a></header>
<main>
<h1>Product stand-in</h1>
<p data-testid="app-view">${escapeHtml(describeAppPath(segments))}</p>
<dl class="meta">
<dt>Path</dt><dd><code data-testid="app-path">${escapeHtml(url.pathname)}</code></dd>
<dt>Query</dt><dd><code data-testid="app-query">${escapeHtml(url.search)}</code></dd>
</dl>
<p>The real product would show this page; locally the mail sink stands in for it.</p>
</main>`,
  );
}

/** Names the product page a path points at, e.g. `…/resources/p1/analytics` → "Process analytics for resource p1". */
function describeAppPath(segments: string[]): string {
  const view = segments.at(-1);
  if (view === undefined) return "The product's home page";
  const resourcesAt = segments.indexOf("resources");
  const resourceId = resourcesAt >= 0 ? segments[resourcesAt + 1] : segments.at(-2);
  if (resourceId === undefined || resourceId === view) return `Product page "${segments.join("/")}"`;
  const label = view === "analytics" ? "Process analytics" : view === "details" ? "Details" : `Page "${view}"`;
  return `${label} for resource ${resourceId}`;
}

function renderNotFound(path: string): string {
  return page(
    "Not found",
    `<header><a href="/">← All mail</a></header>\n<main><h1>Not found</h1><p><code>${escapeHtml(path)}</code></p></main>`,
  );
}

// ---------------------------------------------------------------------------------------------
// Links

/** Every href in the HTML body, then every URL in the plain text, once each, in order. */
function extractLinks(message: Pick<SinkMessage, "html" | "plainText">): string[] {
  const found: string[] = [];
  for (const match of message.html.matchAll(/<a\b[^>]*?\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))/gi)) {
    const raw = match[1] ?? match[2] ?? match[3];
    if (raw !== undefined) found.push(decodeEntities(raw).trim());
  }
  for (const match of message.plainText.matchAll(/https?:\/\/[^\s<>"']+/gi)) {
    // A sentence's closing punctuation is rarely part of the URL.
    found.push(match[0].replace(/[.,;:!?)\]]+$/, ""));
  }
  return [...new Set(found.filter((href) => href !== ""))];
}

function isNavigable(href: string): boolean {
  // Parsed as a browser parses it (Node's URL is the WHATWG parser), so " java\tscript:" tricks are
  // seen for what they are; relative links resolve to the sink's own http: origin.
  try {
    return ["http:", "https:", "mailto:"].includes(new URL(href, "http://sink.invalid/").protocol);
  } catch {
    return false;
  }
}

const namedEntities: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };

/** Decodes the character references an href attribute is likely to hold (the common named ones and numeric ones). */
function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref.startsWith("#")) {
      const code =
        ref[1] === "x" || ref[1] === "X" ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return namedEntities[ref.toLowerCase()] ?? whole;
  });
}

const stylesheet = `
:root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.45; }
body { margin: 0 auto; max-width: 60rem; padding: 1rem; }
header { display: flex; gap: 1rem; align-items: baseline; justify-content: space-between; flex-wrap: wrap; }
h1 { font-size: 1.4rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin-top: 1.5rem; }
ul { padding-left: 1.2rem; }
.messages { list-style: none; padding: 0; }
.message { padding: .6rem 0; border-bottom: 1px solid #8884; display: flex; flex-direction: column; }
.subject { font-weight: 600; overflow-wrap: anywhere; }
.meta { color: #888; font-size: .9rem; overflow-wrap: anywhere; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .2rem .8rem; }
dd { margin: 0; }
.links a { overflow-wrap: anywhere; }
iframe.html-body { width: 100%; height: 60vh; border: 1px solid #8886; background: #fff; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #8881; padding: .8rem; }
a { padding: .15rem 0; }
`;
