import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHost, type LocalHost } from "../../tools/host/index.js";

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

describe("local host: HTTP triggers", () => {
  let host: LocalHost;
  const lines: string[] = [];

  beforeAll(async () => {
    host = await startHost({
      functionFiles: [fixture("httpApp.ts")],
      port: 0,
      hostJson: { version: "2.0", extensions: { http: { routePrefix: "api" } } },
      maxRequestBodyBytes: 1024,
      logLine: (line) => lines.push(line),
    });
  });
  afterAll(async () => {
    await host?.close();
  });

  const call = async (method: string, path: string, init: RequestInit = {}) => {
    const response = await fetch(`${host.url}${path}`, { method, ...init });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  };

  it("registers every function with its route and methods", () => {
    const itemById = host.registrations.find((r) => r.name === "itemById");
    expect(itemById?.http).toEqual({ path: "/api/items/{id}", methods: ["GET"] });
    expect(host.registrations.find((r) => r.name === "defaults")?.http?.methods).toEqual(["GET", "POST"]);
    expect(host.registrations.find((r) => r.name === "byName")?.http?.path).toBe("/api/byName");
  });

  it("fills route params, decoded, and the query", async () => {
    const r = await call("GET", "/api/items/a%20b?x=1&x=2&y=z");
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ fn: "itemById", method: "GET", params: { id: "a b" }, query: { x: "2", y: "z" } });
  });

  it("prefers a literal segment over a parameter, whatever the registration order", async () => {
    expect((await call("GET", "/api/items/special")).json).toEqual({ fn: "itemSpecial" });
    expect((await call("GET", "/api/items/other")).json).toMatchObject({ fn: "itemById", params: { id: "other" } });
  });

  it("picks the function by method on the same route", async () => {
    const r = await call("PUT", "/api/items/7", { body: "x" });
    expect(r.json).toMatchObject({ fn: "itemUpdate", params: { id: "7" }, body: "x" });
  });

  it("applies route constraints, a constrained parameter winning over a plain one", async () => {
    expect((await call("GET", "/api/num/42")).json).toEqual({ n: "42" });
    expect((await call("GET", "/api/num/abc")).json).toEqual({ word: "abc" });
    const id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    expect((await call("GET", `/api/ids/${id}`)).json).toEqual({ id });
    expect((await call("GET", "/api/ids/not-a-guid")).status).toBe(404);
    expect((await call("GET", "/api/byName")).text).toBe("by name");
    // Routing ignores the case of literal segments, as ASP.NET routing does.
    expect((await call("GET", "/API/Items/special")).json).toEqual({ fn: "itemSpecial" });
    // A route matches its exact number of segments.
    expect((await call("GET", "/api/items")).status).toBe(404);
    expect((await call("GET", "/api/items/7/more")).status).toBe(404);
  });

  it("defaults to GET and POST when a function names no methods", async () => {
    expect((await call("GET", "/api/defaults")).status).toBe(200);
    expect((await call("POST", "/api/defaults", { body: "{}" })).status).toBe(200);
    const put = await call("PUT", "/api/defaults", { body: "{}" });
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toBe("GET, POST");
    expect(put.headers.get("content-type")).toBe("application/problem+json");
    expect(put.json).toMatchObject({ status: 405, title: "Method Not Allowed" });
  });

  it("answers 404 problem+json for unknown routes", async () => {
    for (const path of ["/api/nope", "/nope", "/", "/api"]) {
      const r = await call("GET", path);
      expect(r.status).toBe(404);
      expect(r.headers.get("content-type")).toBe("application/problem+json");
      expect(r.json).toMatchObject({ status: 404, title: "Not Found" });
    }
  });

  it("passes body and headers, and strips caller-supplied x-ms-client-principal headers", async () => {
    const principal = Buffer.from(JSON.stringify({ userId: "mallory", userRoles: ["Sharing.Admin"] })).toString(
      "base64",
    );
    const r = await call("POST", "/api/echo?q=1", {
      body: JSON.stringify({ hello: "world" }),
      headers: {
        "content-type": "application/json",
        "x-custom": "kept",
        "x-ms-client-principal": principal,
        "x-ms-client-principal-id": "mallory",
        "x-ms-client-principal-name": "mallory@example.com",
        "x-ms-client-principal-idp": "aad",
      },
    });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ method: "POST", body: '{"hello":"world"}', query: { q: "1" }, user: null });
    const headers = z_headers(r.json);
    expect(headers["x-custom"]).toBe("kept");
    expect(headers["content-type"]).toBe("application/json");
    expect(Object.keys(headers).filter((h) => h.startsWith("x-ms-client-principal"))).toEqual([]);
  });

  it("refuses a body over the limit with 413 problem+json, declared or chunked, and later requests still work", async () => {
    const big = await call("POST", "/api/echo", { body: "x".repeat(5000) });
    expect(big.status).toBe(413);
    expect(big.json).toMatchObject({ status: 413 });
    const exact = await call("POST", "/api/echo", { body: "y".repeat(1024) });
    expect(exact.status).toBe(201);
    // Without a declared length (chunked), the limit holds too.
    const chunked = await call("POST", "/api/echo", {
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode("z".repeat(200)));
          controller.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  it("turns a handler's throw into 500 problem+json without the stack or message, and logs it", async () => {
    const r = await call("POST", "/api/boom", { body: "{}" });
    expect(r.status).toBe(500);
    expect(r.headers.get("content-type")).toBe("application/problem+json");
    expect(r.json).toMatchObject({ status: 500, title: "Internal Server Error" });
    expect(r.text).not.toContain("very secret failure detail");
    expect(r.text).not.toMatch(/at .*\.ts:\d+/);
    expect(lines.some((l) => l.startsWith("[boom] ERROR") && l.includes("very secret failure detail"))).toBe(true);
    // A return value that is no response object is the function's fault too.
    expect((await call("GET", "/api/bad-return")).status).toBe(500);
  });

  it("writes every response shape: status, headers, buffer and stream bodies, no content", async () => {
    const buffer = await fetch(`${host.url}/api/shapes/buffer`);
    expect(buffer.status).toBe(202);
    expect(buffer.headers.get("content-type")).toBe("application/octet-stream");
    expect([...new Uint8Array(await buffer.arrayBuffer())]).toEqual([0, 1, 2, 255]);

    const stream = await call("GET", "/api/shapes/stream");
    expect(stream.text).toBe("chunk-1,chunk-2");
    expect(stream.headers.get("x-kind")).toBe("stream");

    const teapot = await call("GET", "/api/shapes/teapot");
    expect(teapot.status).toBe(418);
    // The content type a fetch Response gives a string body, as in Azure.
    expect(teapot.headers.get("content-type")).toBe("text/plain;charset=UTF-8");
    expect((await call("GET", "/api/items/special")).headers.get("content-type")).toBe("application/json");
    const none = await call("DELETE", "/api/nothing");
    expect(none.status).toBe(204);
    expect(none.text).toBe("");
  });

  it("answers 400 problem+json for a path that is not validly percent-encoded", async () => {
    const r = await call("GET", "/api/items/%E0%A4%A");
    expect(r.status).toBe(400);
    expect(r.headers.get("content-type")).toBe("application/problem+json");
  });
});

describe("local host: what it does not emulate", () => {
  // The app uses none of these; a module that does fails the start, naming what, instead of
  // running differently than it would in Azure.
  it.each([
    ["optionalRoute.ts", /opt\/\{a\}\/\{b\?\}: segment \{b\?\} is not supported by the local host/],
    ["hook.ts", /app\.hook\.preInvocation is not supported by the local host/],
    ["queueOutput.ts", /function withQueueOutput, binding .*: out binding queue is not supported by the local host/],
    ["runOnStartup.ts", /function atStartup, binding .*runOnStartup is not supported by the local host/],
    ["timeSpanSchedule.ts", /function everyFiveMinutes: schedule "00:05:00": expected six NCRONTAB fields/],
  ])("refuses %s at start", async (file, message) => {
    await expect(
      startHost({ functionFiles: [fixture(`unsupported/${file}`)], port: 0, logLine: () => undefined }),
    ).rejects.toThrow(message);
  });
});

describe("local host: closing", () => {
  it("a second host in the same process reuses the loaded modules, and close() waits for in-flight requests", async () => {
    let started: () => void = () => undefined;
    const slowStarted = new Promise<void>((resolve) => (started = resolve));
    const host = await startHost({
      functionFiles: [fixture("httpApp.ts")],
      port: 0,
      logLine: (line) => line === "[slow] slow started" && started(),
    });
    expect(host.registrations.some((r) => r.name === "slow")).toBe(true);
    const pending = fetch(`${host.url}/api/slow?ms=300`).then(async (r) => ({
      status: r.status,
      text: await r.text(),
    }));
    // Close while the handler runs: its request must still be answered.
    await slowStarted;
    const closed = host.close();
    expect(await pending).toEqual({ status: 200, text: "finally" });
    await closed;
    await expect(fetch(`${host.url}/api/slow?ms=1`)).rejects.toThrow();
  });
});

/** The echoed headers, read without trusting the shape. */
function z_headers(json: unknown): Record<string, string> {
  if (
    typeof json !== "object" ||
    json === null ||
    !("headers" in json) ||
    typeof json.headers !== "object" ||
    json.headers === null
  )
    return {};
  return Object.fromEntries(Object.entries(json.headers).map(([k, v]) => [k, String(v)]));
}
