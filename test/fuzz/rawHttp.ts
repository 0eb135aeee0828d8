/**
 * A bare HTTP/1.1 client for hostile requests. `fetch` normalises what a hostile client would not:
 * it resolves `..` and `%2e%2e` segments, refuses header bytes above 0xFF and re-encodes the path.
 * `node:http` sends the request line as given, so the host sees exactly what an attacker sends.
 */
import { Agent, type IncomingHttpHeaders, request } from "node:http";

export interface RawRequest {
  method: string;
  /** Sent as is on the request line: percent-encode what must be encoded, nothing more. */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** Milliseconds from sending to the last byte of the answer. */
  ms: number;
}

export interface RawClient {
  send(req: RawRequest): Promise<RawResponse>;
  close(): void;
}

/**
 * @param timeoutMs an answer later than this is a failure ("no hang past a bound"), not a wait.
 */
export function rawClient(baseUrl: string, options: { maxSockets?: number; timeoutMs?: number } = {}): RawClient {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 16, keepAliveMsecs: 1000 });
  const timeoutMs = options.timeoutMs ?? 15_000;

  function once(req: RawRequest): Promise<RawResponse & { reused: boolean }> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const body =
        req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, "utf8");
      const headers: Record<string, string | number> = { ...req.headers };
      if (body !== undefined) headers["content-length"] = body.length;
      let reused = false;
      const r = request(
        {
          host: url.hostname,
          port: url.port,
          method: req.method,
          path: req.path,
          headers,
          agent,
          insecureHTTPParser: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            clearTimeout(timer);
            const buf = Buffer.concat(chunks);
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: buf,
              text: buf.toString("utf8"),
              ms: performance.now() - started,
              reused,
            });
          });
          res.on("error", (e) => {
            clearTimeout(timer);
            reject(Object.assign(e, { reused }));
          });
        },
      );
      r.on("socket", () => {
        reused = r.reusedSocket;
      });
      const timer = setTimeout(
        () => r.destroy(new Error(`no answer within ${timeoutMs} ms to ${req.method} ${req.path.slice(0, 200)}`)),
        timeoutMs,
      );
      r.on("error", (e) => {
        clearTimeout(timer);
        reject(Object.assign(e, { reused }));
      });
      r.end(body);
    });
  }

  return {
    async send(req) {
      try {
        return await once(req);
      } catch (e) {
        // A keep-alive socket the server closed just as this request went out: Node's documented
        // case for one retry. A fresh socket failing is a real failure and is not retried.
        const err = e as NodeJS.ErrnoException & { reused?: boolean };
        if (err.reused && (err.code === "ECONNRESET" || err.code === "EPIPE")) return once(req);
        throw e;
      }
    },
    close: () => agent.destroy(),
  };
}

/** Runs `work` over `items` with at most `limit` running at once; results in input order. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!, i);
    }
  });
  await Promise.all(runners);
  return results;
}
