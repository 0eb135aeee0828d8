/**
 * The HTTP side of the host: a node:http server that routes `/api/...` to HTTP functions, builds
 * the `HttpRequest` the library hands to handlers, and serves the admin API that runs a timer or
 * queue function on demand (`POST /admin/functions/{name}`), as in Azure.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import functionsLibrary, { type HttpRequest as HttpRequestType } from "@azure/functions";
import { z } from "zod";
import type { FunctionEntry, Trigger } from "./bindings.js";
import { describeError, type Invoke } from "./invocation.js";
import type { RouteMatch } from "./routing.js";
import { sendProblem, toWireResponse, writeWireResponse, type WireResponse } from "./wire.js";

// The classes come from the CommonJS default export (see wire.ts).
const { HttpRequest } = functionsLibrary;

export type HttpFunction = FunctionEntry<Extract<Trigger, { kind: "http" }>>;

export interface HttpDeps {
  route: (method: string, path: readonly string[]) => RouteMatch<HttpFunction>;
  /** A timer or queue function by name (any case), for the admin API. */
  nonHttpFunction: (name: string) => FunctionEntry | undefined;
  /** Runs a timer, or a queue function with `input` as the message text. */
  runNonHttp: (fn: FunctionEntry, input: string) => Promise<void>;
  invoke: Invoke;
  logLine: (line: string) => void;
  maxBodyBytes: number;
  /** Keeps a promise in the set that `close()` waits for. */
  track: <T>(promise: Promise<T>) => Promise<T>;
}

const adminBodySchema = z.object({ input: z.string().optional() }).loose();

/** The request listener: every request is tracked, and a failure of the host itself is a 500. */
export function createRequestListener(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void deps.track(
      handle(deps, req, res).catch((error: unknown) => {
        deps.logLine(`[host] ERROR: ${describeError(error)}`);
        if (!res.headersSent) sendProblem(res, 500, "Internal Server Error", "The host failed to handle the request.");
        else res.destroy();
      }),
    );
  };
}

async function handle(deps: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const rawUrl = req.url ?? "/";
  const method = (req.method ?? "GET").toUpperCase();
  const q = rawUrl.indexOf("?");
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
  let path: string[];
  try {
    path = rawPath
      .split("/")
      .filter((s) => s !== "")
      .map(decodeURIComponent);
  } catch {
    return sendProblem(res, 400, "Bad Request", "The request path is not validly percent-encoded.");
  }
  if (path[0]?.toLowerCase() === "admin") return handleAdmin(deps, req, res, method, path, rawUrl);

  const match = deps.route(method, path);
  if (match.kind === "wrongMethod") {
    res.setHeader("allow", match.allowed.join(", "));
    return sendProblem(res, 405, "Method Not Allowed", `${method} is not allowed on ${rawPath}.`);
  }
  if (match.kind === "notFound") return sendProblem(res, 404, "Not Found", `No function serves ${method} ${rawPath}.`);

  const body = await readBody(req, deps.maxBodyBytes);
  if (body === "tooLarge") {
    res.setHeader("connection", "close");
    return sendProblem(res, 413, "Payload Too Large", `The request body exceeds ${deps.maxBodyBytes} bytes.`);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    // Easy Auth's identity headers: only Azure's front end may set them, so never trust a caller's.
    if (value === undefined || name.startsWith("x-ms-client-principal")) continue;
    headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  let request: HttpRequestType;
  try {
    request = new HttpRequest({
      method,
      url: `http://${req.headers.host ?? "localhost"}${rawUrl}`,
      headers,
      params: match.params,
      ...(body.length > 0 ? { body: { bytes: body } } : {}),
    });
  } catch {
    return sendProblem(res, 400, "Bad Request", "The request could not be read.");
  }

  const fn = match.target;
  const invocationId = randomUUID();
  let response: WireResponse | undefined;
  try {
    const result = await deps.invoke(fn, request, { invocationId });
    try {
      response = await toWireResponse(result);
    } catch (error) {
      deps.logLine(
        `[${fn.name}] ERROR: invocation ${invocationId} returned no valid response: ${describeError(error)}`,
      );
      throw error;
    }
  } catch {
    return sendProblem(res, 500, "Internal Server Error", "The function failed. The host log has the details.", {
      invocationId,
    });
  }
  writeWireResponse(res, response, method);
}

// `POST /admin/functions/{name}` runs a timer or queue function now, as in Azure; only reachable
// on the loopback interfaces this host listens on. `?wait=true` (a local extension) answers 204
// when the invocation finished, 500 if it failed; without it, 202 at once.
async function handleAdmin(
  deps: HttpDeps,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  path: string[],
  rawUrl: string,
): Promise<void> {
  const fn =
    path.length === 3 && path[1]?.toLowerCase() === "functions" ? deps.nonHttpFunction(path[2] ?? "") : undefined;
  if (fn === undefined) return sendProblem(res, 404, "Not Found", `No non-HTTP function at ${rawUrl}.`);
  if (method !== "POST") {
    res.setHeader("allow", "POST");
    return sendProblem(res, 405, "Method Not Allowed", "Use POST to run a function.");
  }
  const body = await readBody(req, deps.maxBodyBytes);
  if (body === "tooLarge")
    return sendProblem(res, 413, "Payload Too Large", `The request body exceeds ${deps.maxBodyBytes} bytes.`);
  const parsed = adminBodySchema.safeParse(body.length === 0 ? {} : safeJson(body.toString("utf8")));
  if (!parsed.success) return sendProblem(res, 400, "Bad Request", 'Expected a JSON body like {"input": "..."}.');
  const run = deps.track(deps.runNonHttp(fn, parsed.data.input ?? ""));
  if (!/[?&]wait=(true|1)(&|$)/i.test(rawUrl)) {
    run.catch(() => undefined);
    res.writeHead(202, { "content-length": "0" }).end();
    return;
  }
  try {
    await run;
    res.writeHead(204).end();
  } catch {
    sendProblem(res, 500, "Internal Server Error", `${fn.name} failed. The host log has the details.`);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Reads the body up to `limit` bytes; beyond it drains the rest (so the client sees the 413) and says so. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | "tooLarge"> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared === 0) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number.isFinite(declared) && declared > limit;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
      // Draining has a ceiling: past it, cut the connection rather than read on.
      if (size > 64 * limit) req.destroy();
    });
    req.on("end", () =>
      resolve(tooLarge ? "tooLarge" : chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks)),
    );
    req.on("error", reject);
    req.on("close", () => (tooLarge ? resolve("tooLarge") : undefined));
  });
}

export interface Listening {
  servers: Server[];
  port: number;
  /** e.g. `http://127.0.0.1:7071`. */
  url: string;
}

/**
 * Listens on `hostname`. "localhost" means both 127.0.0.1 and ::1 (when the machine has it), so
 * `http://localhost:PORT` works whichever address a client resolves first, and nothing outside
 * the machine can connect. Port 0 picks a free port.
 */
export async function listen(
  hostname: string,
  port: number,
  onRequest: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Listening> {
  const primaryHost = hostname === "localhost" ? "127.0.0.1" : hostname;
  const primary = createServer({ keepAliveTimeout: 5000 }, onRequest);
  await listenOn(primary, primaryHost, port);
  const servers = [primary];
  const address = primary.address();
  const actualPort = typeof address === "object" && address !== null ? address.port : port;
  if (hostname === "localhost") {
    const v6 = createServer({ keepAliveTimeout: 5000 }, onRequest);
    try {
      await listenOn(v6, "::1", actualPort);
      servers.push(v6);
    } catch {
      // No IPv6 loopback on this machine: 127.0.0.1 alone serves "localhost".
    }
  }
  const urlHost = primaryHost.includes(":") ? `[${primaryHost}]` : primaryHost;
  return { servers, port: actualPort, url: `http://${urlHost}:${actualPort}` };
}

function listenOn(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
