/**
 * A webhook receiver for end-to-end tests: a plain `node:http` server on 127.0.0.1 (the stack sets
 * WEBHOOK_ALLOW_LOOPBACK_HTTP=true) that records every request's headers and raw body, answers as
 * a test scripts it, and checks Standard Webhooks signatures two ways: with the `standardwebhooks`
 * package and with a `node:crypto` HMAC written from the spec, so a bug shared by our signer and
 * the package would still show.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

/** One request as it arrived. */
export interface ReceivedRequest {
  /** Which request this was on this receiver, from 1. */
  n: number;
  path: string;
  headers: IncomingHttpHeaders;
  /** The body byte for byte, as UTF-8 (the signature covers exactly these bytes). */
  body: string;
  at: Date;
  /** The status the receiver answered with. */
  answered: number;
}

/** How the receiver answers one request. */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Waits this long before answering (a slow receiver). */
  delayMs?: number;
}

/** Decides the answer to a request; `undefined` means the default (204). */
export type Script = (req: Omit<ReceivedRequest, "answered">) => Answer | undefined;

/** Answers `answer` to the first `times` requests, then the default. */
export function firstTimes(times: number, answer: Answer): Script {
  return (req) => (req.n <= times ? answer : undefined);
}

/** A CloudEvent as the receiver parses it (the fields the tests look at). */
export interface ReceivedEvent {
  specversion: string;
  id: string;
  source: string;
  type: string;
  subject?: string;
  time: string;
  datacontenttype: string;
  data: {
    actorId: string;
    resourceId?: string;
    principal?: { type: string; id: string };
    role?: string;
    auditId?: string;
    reviewId?: string;
    instanceId?: string;
    detail: string;
  };
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:{port}/hook`. */
  url: string;
  /** Every request so far, in arrival order. */
  requests: ReceivedRequest[];
  /** The bodies of every request so far, parsed. */
  events(): ReceivedEvent[];
  /** Replaces the script from the next request on (request numbers keep counting). */
  answer(script: Script): void;
  close(): Promise<void>;
}

const defaultAnswer: Answer = { status: 204 };

export async function startReceiver(script?: Script): Promise<WebhookReceiver> {
  let current: Script | undefined = script;
  const requests: ReceivedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const got = {
        n: requests.length + 1,
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        at: new Date(),
      };
      const a = current?.(got) ?? defaultAnswer;
      // Recorded as it arrives (before a slow answer), as a real receiver would have it.
      requests.push({ ...got, answered: a.status });
      const send = () => {
        res.writeHead(a.status, a.headers);
        res.end(a.body);
      };
      if (a.delayMs) setTimeout(send, a.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    events: () => requests.map((r) => JSON.parse(r.body) as ReceivedEvent),
    answer(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const header = (r: ReceivedRequest, name: string): string => {
  const v = r.headers[name];
  if (typeof v !== "string") throw new Error(`request ${r.n} has no single ${name} header`);
  return v;
};

/** Verifies with the `standardwebhooks` package; throws when it fails (stale timestamps included). */
export function verifyWithPackage(r: ReceivedRequest, secret: string): void {
  new Webhook(secret).verify(r.body, {
    "webhook-id": header(r, "webhook-id"),
    "webhook-timestamp": header(r, "webhook-timestamp"),
    "webhook-signature": header(r, "webhook-signature"),
  });
}

/**
 * Verifies from the Standard Webhooks text alone, sharing no code with the package: base64
 * HMAC-SHA256 of `{id}.{timestamp}.{body}` under the base64-decoded key after `whsec_`, compared in
 * constant time with each space-separated `v1,` signature. True when one matches.
 */
export function independentlyVerified(
  secret: string,
  headers: Record<"webhook-id" | "webhook-timestamp" | "webhook-signature", string>,
  body: string,
): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const signed = `${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body}`;
  const expected = createHmac("sha256", key).update(signed, "utf8").digest();
  return headers["webhook-signature"].split(" ").some((entry) => {
    const [version, sig] = entry.split(",", 2);
    if (version !== "v1" || sig === undefined) return false;
    const given = Buffer.from(sig, "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/** `independentlyVerified` for a request as it arrived. */
export function verifyIndependently(r: ReceivedRequest, secret: string): boolean {
  const headers = {
    "webhook-id": header(r, "webhook-id"),
    "webhook-timestamp": header(r, "webhook-timestamp"),
    "webhook-signature": header(r, "webhook-signature"),
  };
  return independentlyVerified(secret, headers, r.body);
}

/** The first request of each `webhook-id`, in arrival order: what a receiver that drops duplicates keeps. */
export function deduplicated(requests: readonly ReceivedRequest[]): ReceivedRequest[] {
  const seen = new Set<string>();
  return requests.filter((r) => {
    const id = header(r, "webhook-id");
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
