/**
 * Counts storage requests with the Tables adapter's `onRequest`/`onResponse` hooks, by kind (point
 * read, query, batch, delete) and table, and the round trips they took: a round trip (a "wave") is
 * each time the number of requests in flight goes from 0 to 1 or more, so requests sent together
 * count once and requests sent one after the other count once each.
 *
 * `RequestMeter` counts everything between `start()` and `stop()` (in-process use cases).
 * `AnswerPathMeter` counts, for one HTTP call to the local host, only the requests made on that
 * call's behalf between sending it and receiving its response: queue-triggered work running beside
 * it in the same process (a fan-out, the mailer) is not counted.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import diagnostics from "node:diagnostics_channel";
import type { ClientRequest, IncomingMessage } from "node:http";

export class RequestMeter {
  private on = false;
  private counts = new Map<string, number>();
  private phase = "";
  private inFlight = 0;
  total = 0;
  /** Round trips since `start()`. */
  waves = 0;

  /** The hook to hand to `AzureRowStore` as `onRequest`. */
  readonly onRequest = (method: string, url: string): void => {
    if (!this.on) return;
    const key = `${this.phase}${describeRequest(method, url)}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.total++;
    if (this.inFlight++ === 0) this.waves++;
  };

  /** The hook to hand to `AzureRowStore` as `onResponse`. */
  readonly onResponse = (): void => {
    if (this.on && this.inFlight > 0) this.inFlight--;
  };

  start(): void {
    this.on = true;
    this.counts = new Map();
    this.total = 0;
    this.waves = 0;
    this.inFlight = 0;
    this.phase = "";
  }

  /** Prefixes what is counted from now on (e.g. "relay: "), to split one operation's requests. */
  setPhase(phase: string): void {
    this.phase = phase;
  }

  stop(): Map<string, number> {
    this.on = false;
    return this.counts;
  }
}

/** One HTTP call's storage requests on its answer's path. */
export interface PathCount {
  /** Requests by kind (`describeRequest`, and `POST queue messages` for queue sends). */
  requests: Map<string, number>;
  total: number;
  /** Round trips: how often the call's requests in flight went from 0 to 1 or more. */
  waves: number;
  inFlight: number;
  /** False once the response is received: later requests are not on the answer's path. */
  open: boolean;
  /** Each request in the order sent, when `measure` was asked to trace. */
  trace?: TracedRequest[];
}

/** One request of a traced call, and the round trip (1, 2, …) it went in. */
export interface TracedRequest {
  wave: number;
  method: string;
  url: string;
}

/** The header that tells the host side which measured call a request belongs to. */
export const answerPathHeader = "x-bench-answer-path";

/**
 * Attributes storage requests to the HTTP call they serve. The local host runs in this process: as
 * it receives a request (Node's `http.server.request.start` channel) the call's counter is entered
 * into an AsyncLocalStorage, which follows the handler's awaits down to the storage SDKs; the Tables
 * adapter's hooks and the queue requests (seen on Node's `http.client.*` channels, to the queue
 * endpoint only) are counted against it. Work started by a queue trigger or a timer runs outside
 * any call and is not counted; it is still seen by `idle()`.
 */
export class AnswerPathMeter {
  private readonly current = new AsyncLocalStorage<PathCount | undefined>();
  private readonly calls = new Map<string, PathCount>();
  private readonly queueRequests = new WeakMap<ClientRequest, PathCount | undefined>();
  private tableRequestsInFlight = 0;
  private lastTableActivity = performance.now();
  private readonly subscriptions: [string, (message: unknown) => void][] = [];

  /** `queueHost`: the queue endpoint's `host:port`, as the storage SDK sends it in `Host`. */
  constructor(private readonly queueHost: string) {
    this.subscribe("http.server.request.start", (m) => {
      const id = headerOf((m as { request: IncomingMessage }).request);
      // Always entered, so a keep-alive connection's next call does not inherit this one.
      this.current.enterWith(id === undefined ? undefined : this.calls.get(id));
    });
    this.subscribe("http.client.request.start", (m) => {
      const request = (m as { request: ClientRequest }).request;
      if (request.getHeader("host") !== this.queueHost) return;
      const call = this.current.getStore();
      this.queueRequests.set(request, call);
      const kind = `${request.method} queue ${/\/messages(\?|$)/.test(request.path) ? "messages" : "(queue)"}`;
      begin(call, kind, request.method, `${request.protocol}//${this.queueHost}${request.path}`);
    });
    const queueDone = (m: unknown) => {
      const request = (m as { request: ClientRequest }).request;
      if (!this.queueRequests.has(request)) return;
      end(this.queueRequests.get(request));
      this.queueRequests.delete(request);
    };
    this.subscribe("http.client.response.finish", queueDone);
    this.subscribe("http.client.request.error", queueDone);
  }

  private subscribe(name: string, f: (message: unknown) => void): void {
    diagnostics.subscribe(name, f);
    this.subscriptions.push([name, f]);
  }

  /** The hook to hand to the host's `AzureRowStore` as `onRequest`. */
  readonly onRequest = (method: string, url: string): void => {
    this.tableRequestsInFlight++;
    this.lastTableActivity = performance.now();
    begin(this.current.getStore(), describeRequest(method, url), method, url);
  };

  /** The hook to hand to the host's `AzureRowStore` as `onResponse` (it runs in the request's own context). */
  readonly onResponse = (): void => {
    this.tableRequestsInFlight--;
    this.lastTableActivity = performance.now();
    end(this.current.getStore());
  };

  /**
   * Runs one HTTP call: `send` must send the headers it is given and resolve once the whole
   * response is received. Resolves with what `send` resolved and the call's count.
   */
  async measure<T>(
    send: (headers: Record<string, string>) => Promise<T>,
    options: { trace?: boolean } = {},
  ): Promise<{ value: T; count: PathCount }> {
    const id = randomUUID();
    const count: PathCount = {
      requests: new Map(),
      total: 0,
      waves: 0,
      inFlight: 0,
      open: true,
      ...(options.trace ? { trace: [] } : {}),
    };
    this.calls.set(id, count);
    try {
      return { value: await send({ [answerPathHeader]: id }), count };
    } finally {
      count.open = false;
      this.calls.delete(id);
    }
  }

  /**
   * Resolves once no table request has been in flight for `quietMs` (background work such as a
   * fan-out has finished), or false after `timeoutMs`.
   */
  async idle(quietMs: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (this.tableRequestsInFlight === 0 && performance.now() - this.lastTableActivity >= quietMs) return true;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return false;
  }

  /** Stops listening on Node's channels and drops the AsyncLocalStorage (its hooks cost every promise). */
  close(): void {
    for (const [name, f] of this.subscriptions) diagnostics.unsubscribe(name, f);
    this.current.disable();
  }
}

function headerOf(request: IncomingMessage): string | undefined {
  const v = request.headers[answerPathHeader];
  return typeof v === "string" ? v : undefined;
}

function begin(call: PathCount | undefined, kind: string, method: string, url: string): void {
  if (!call?.open) return;
  call.requests.set(kind, (call.requests.get(kind) ?? 0) + 1);
  call.total++;
  if (call.inFlight++ === 0) call.waves++;
  call.trace?.push({ wave: call.waves, method, url });
}

function end(call: PathCount | undefined): void {
  if (call?.open && call.inFlight > 0) call.inFlight--;
}

/** `GET Resources (query)`, `GET Principals (point)`, `POST $batch`, `DELETE Resources`, … */
export function describeRequest(method: string, url: string): string {
  const u = new URL(url);
  const last = decodeURIComponent(u.pathname.split("/").pop() ?? "");
  if (last === "$batch") return `${method} $batch`;
  const table = last.replace(/\(.*$/, "").replace(/^bench[a-z0-9]*/, "");
  if (method === "GET") return /\(PartitionKey=/.test(last) ? `GET ${table} (point)` : `GET ${table} (query)`;
  return `${method} ${table}`;
}

/** `{ "GET Resources (query)": 1, ... }` as one short line. */
export function formatCounts(counts: Map<string, number>, runs: number): string {
  return [...counts.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k} ×${+(v / runs).toFixed(2)}`)
    .join(", ");
}
