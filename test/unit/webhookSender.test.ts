import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { webhookTargetGuard, type Resolver } from "../../shared/adapters/http/ssrfGuard.js";
import { postWebhook } from "../../shared/adapters/http/webhookSender.js";
import { newWebhookSecret } from "../../shared/usecases/webhooks.js";
import { signWebhook } from "../../shared/webhooks/signing.js";

/** A receiver on loopback whose answer each test sets; it records what reached it. */
let answer: (req: IncomingMessage, res: ServerResponse, body: string) => void = (_q, res) => res.end();
const received: { host?: string; headers: IncomingMessage["headers"]; body: string }[] = [];
const server = createServer((req, res) => {
  let body = "";
  req.on("data", (c: Buffer) => (body += c.toString()));
  req.on("end", () => {
    received.push({ ...(req.headers.host ? { host: req.headers.host } : {}), headers: req.headers, body });
    answer(req, res, body);
  });
});
let port = 0;
beforeAll(async () => {
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

/** `rebind.test` resolves to loopback for the guard; nothing else would resolve it at all. */
const dns: Resolver = async (host) => {
  if (host === "rebind.test") return [{ address: "127.0.0.1", family: 4 }];
  throw new Error(`getaddrinfo ENOTFOUND ${host}`);
};
const local = webhookTargetGuard({ allowLoopbackHttp: true, resolve: dns });
const body = JSON.stringify({ specversion: "1.0", id: "evt_1", type: "sharing.copy.sent" });
const post = (over: { url?: string; check?: typeof local; timeoutMs?: number; secret?: string } = {}) =>
  postWebhook({
    url: over.url ?? `http://127.0.0.1:${port}/hook`,
    body,
    headers: signWebhook("evt_1", new Date(), body, [over.secret ?? newWebhookSecret()]),
    check: over.check ?? local,
    now: new Date(),
    ...(over.timeoutMs ? { timeoutMs: over.timeoutMs } : {}),
  });

describe("postWebhook", () => {
  it("delivers a signed POST the receiver verifies with standardwebhooks", async () => {
    const secret = newWebhookSecret();
    let verified: unknown;
    answer = (req, res, text) => {
      verified = new Webhook(secret).verify(text, req.headers as Record<string, string>);
      res.statusCode = 204;
      res.end();
    };
    expect(await post({ secret })).toEqual({ outcome: "delivered", status: 204 });
    expect(verified).toEqual(JSON.parse(body));
    expect(received.at(-1)?.headers["content-type"]).toBe("application/json");
  });

  it("keeps the first KiB of a failed answer and the receiver's Retry-After", async () => {
    answer = (_req, res) => {
      res.writeHead(503, { "retry-after": "120" });
      res.end("x".repeat(64 * 1024));
    };
    const r = await post();
    expect(r).toMatchObject({ outcome: "retry", status: 503, retryAfter: 120 });
    expect(r.response).toHaveLength(1024);
  });

  it("disables on 410, and does not follow a redirect", async () => {
    answer = (_req, res) => {
      res.statusCode = 410;
      res.end("gone");
    };
    expect(await post()).toEqual({ outcome: "disable", status: 410, response: "gone" });
    answer = (_req, res) => {
      res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data" });
      res.end();
    };
    const before = received.length;
    expect(await post()).toMatchObject({ outcome: "retry", status: 302 });
    expect(received.length).toBe(before + 1);
  });

  it("gives up on a receiver that doesn't answer in time", async () => {
    answer = () => undefined;
    const r = await post({ timeoutMs: 200 });
    expect(r).toEqual({ outcome: "retry", error: "no answer within 0.2 s" });
  });

  it("checks the URL again at send time and sends nothing when the guard refuses", async () => {
    const strict = webhookTargetGuard({ allowLoopbackHttp: false, resolve: dns });
    const before = received.length;
    const r = await post({ check: strict });
    expect(r.outcome).toBe("retry");
    expect(r.error).toMatch(/^the URL was refused: must use https/);
    expect(received.length).toBe(before);
  });

  it("connects to the address the guard checked, keeping the URL's host name", async () => {
    answer = (_req, res) => res.end();
    const r = await post({ url: `http://rebind.test:${port}/hook` });
    expect(r).toEqual({ outcome: "delivered", status: 200 });
    expect(received.at(-1)?.host).toBe(`rebind.test:${port}`);
  });
});
