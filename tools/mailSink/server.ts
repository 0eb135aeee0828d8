/**
 * The sink's HTTP server: routes the ACS endpoints, the JSON `/messages` API the tests read, and the
 * pages, over one store and one fault plan.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import {
  acsError,
  maxBodyBytes,
  methodNotAllowed,
  operationIdSchema,
  sendJson,
  sendRequestSchema,
  verifyHmac,
} from "./acs.js";
import { createFaultPlan, type InjectedFailureStatus } from "./faults.js";
import { decodeSegment, parseJson, readBody, urlHost } from "./http.js";
import { renderApp, renderIndex, renderMessage, renderNotFound, sendCss, sendHtml } from "./pages.js";
import { createMessageStore, type SinkMessage } from "./store.js";

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

const base64Pattern = /^[A-Za-z0-9+/]+={0,2}$/;

/** Starts a sink and resolves once it listens. */
export async function startMailSink(options: MailSinkOptions = {}): Promise<MailSink> {
  const { host = "127.0.0.1", port = 0 } = options;
  const accessKey = options.accessKey ?? randomBytes(32).toString("base64");
  if (!base64Pattern.test(accessKey)) throw new Error("mail sink accessKey must be base64");
  const key = Buffer.from(accessKey, "base64");

  const store = createMessageStore();
  const faults = createFaultPlan();
  const clear = () => {
    store.clear();
    faults.clear();
  };

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
        const list = store.messages().filter((m) => to === undefined || m.to.some((a) => a.toLowerCase() === to));
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
    if (path === "/") return sendHtml(res, 200, renderIndex(store.messages()));
    if (path === "/sink.css") return sendCss(res);
    if (path === "/health") return sendJson(res, 200, { status: "ok" });
    const messageMatch = /^\/messages\/([^/]+)$/.exec(path);
    if (messageMatch) {
      const id = decodeSegment(messageMatch[1] ?? "");
      const message = store.messages().find((m) => m.operationId === id);
      return message ? sendHtml(res, 200, renderMessage(message)) : sendHtml(res, 404, renderNotFound(path));
    }
    if (path === "/app" || path.startsWith("/app/")) return sendHtml(res, 200, renderApp(url));
    return sendHtml(res, 404, renderNotFound(path));
  }

  /** Reads the body and checks the signature; answers 413 or 401 itself and returns undefined then. */
  async function authenticated(req: IncomingMessage, res: ServerResponse, url: URL): Promise<Buffer | undefined> {
    const body = await readBody(req, maxBodyBytes);
    if (body === undefined) {
      sendJson(res, 413, acsError("RequestEntityTooLarge", "the request is over 10 MB"));
      return undefined;
    }
    const auth = verifyHmac(req, url, body, key, Date.now());
    if (!auth.ok) {
      sendJson(res, 401, acsError("Unauthorized", auth.reason));
      return undefined;
    }
    return body;
  }

  async function handleSend(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const body = await authenticated(req, res, url);
    if (body === undefined) return;

    const apiVersion = url.searchParams.get("api-version");
    const operationId = operationIdSchema.safeParse(req.headers["operation-id"]);
    // Counted before an injected failure, so a test sees the client's retries.
    if (operationId.success) store.countAttempt(operationId.data);

    const injected = faults.takeFailure();
    if (injected) return sendJson(res, injected.status, injected.body, injected.headers);

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
    const { senderAddress, content, recipients } = message.data;
    store.accept(
      id,
      {
        from: senderAddress,
        to: recipients.to.map((r) => r.address),
        subject: content.subject,
        plainText: content.plainText ?? "",
        html: content.html ?? "",
      },
      faults.takeFailedOperation,
    );
    // The signed host is the one the client used, so it is also the one it can poll.
    const base = typeof req.headers.host === "string" ? `http://${req.headers.host}` : sinkUrl;
    const location = `${base}/emails/operations/${encodeURIComponent(id)}?api-version=${encodeURIComponent(apiVersion)}`;
    return sendJson(res, 202, { id, status: "Running" }, { "operation-location": location, "retry-after": "0" });
  }

  async function handleOperation(req: IncomingMessage, res: ServerResponse, url: URL, id: string): Promise<void> {
    if ((await authenticated(req, res, url)) === undefined) return;
    const record = store.operation(id);
    if (!record) return sendJson(res, 404, acsError("NotFound", `no email operation ${id}`));
    return sendJson(res, 200, record);
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
    messages: store.messages,
    attempts: store.attempts,
    failNext: faults.failNext,
    failNextOperations: faults.failNextOperations,
    clear,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets from SDK clients would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}
