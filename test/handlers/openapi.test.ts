/**
 * The OpenAPI document of the whole app: valid OpenAPI 3.1 by an independent validator, every
 * success answer of every route with a schema, and every schema one the e2e client can compile.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import SwaggerParser from "@apidevtools/swagger-parser";
import { describe, expect, it } from "vitest";
import { checkerOf } from "../support/openapiCheck.js";
import { call, handlerServices } from "./support.js";

handlerServices();

// Every function module, as the host loads them: each HTTP one registers its route for the document.
const functionsDir = fileURLToPath(new URL("../../functions/", import.meta.url));
const modules = readdirSync(functionsDir).filter((f) => f.endsWith(".ts"));
for (const f of modules) await import(/* @vite-ignore */ pathToFileURL(join(functionsDir, f)).href);
const { handler: openapi } = await import("../../functions/openapi.js");

interface Operation {
  operationId: string;
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

const served = await call(openapi, { method: "GET", path: "openapi.json" });
const doc = served.json as Document;
const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, op]) => ({ path, method, op })),
);

/** Success answers with no body by their nature: nothing else may leave out a schema. */
const bodiless: ReadonlySet<string> = new Set(["acceptInvitation 303", "acceptClaim 303", "submitReviewPage 303"]);

describe("the OpenAPI document", () => {
  it("is served and is valid OpenAPI 3.1 by @apidevtools/swagger-parser, every reference resolving", async () => {
    expect(served.status).toBe(200);
    expect(doc.openapi).toBe("3.1.0");
    // It dereferences in place: give it a copy. It throws, naming the place, on an invalid document.
    const validated = await SwaggerParser.validate(structuredClone(doc) as never);
    expect((validated as { openapi?: string }).openapi).toBe("3.1.0");
  });

  it("is refused by the validator when broken, so the test above can fail", async () => {
    const broken = structuredClone(doc) as unknown as { paths: Record<string, Record<string, { responses: unknown }>> };
    broken.paths["/api/health"]!.get!.responses = {
      200: { content: { "application/json": { schema: { $ref: "#/components/schemas/Nope" } } } },
    };
    await expect(SwaggerParser.validate(broken as never)).rejects.toThrow(/Nope|description/);
  });

  it("lists every HTTP route of the app", () => {
    // Each function module but the triggers without HTTP (queues, timers) is one operation.
    const nonHttp = [
      "auditRunner",
      "fanout",
      "mailer",
      "webhookDelivery",
      "outboxSweeper",
      "scheduledAudit",
      "claimEscalation",
      "grantExpiry",
      "reviewRunner",
    ];
    const ids = operations.map((o) => o.op.operationId).sort();
    expect(ids).toEqual(
      modules
        .map((f) => f.replace(/\.ts$/, ""))
        .filter((n) => !nonHttp.includes(n))
        .sort(),
    );
  });

  it("gives each success answer of every route a schema (204s and redirects excepted)", () => {
    const missing: string[] = [];
    for (const { path, method, op } of operations) {
      for (const [status, response] of Object.entries(op.responses)) {
        if (!/^[23]\d\d$/.test(status) || status === "204" || bodiless.has(`${op.operationId} ${status}`)) continue;
        const media = Object.entries(response.content ?? {});
        if (media.length === 0) missing.push(`${method.toUpperCase()} ${path} ${status}: no content`);
        for (const [type, m] of media) {
          if (m.schema === undefined) missing.push(`${method.toUpperCase()} ${path} ${status} ${type}: no schema`);
        }
      }
      for (const status of ["204", ...[...bodiless].map((b) => b.split(" ")[1]!)]) {
        if (op.responses[status]?.content) missing.push(`${method.toUpperCase()} ${path} ${status}: has content`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("has answer schemas the e2e client compiles, and they reject a body that drifts", () => {
    const checker = checkerOf(served.text);
    // Compiling happens on first use: check each declared answer with a body no route gives.
    for (const { path, method, op } of operations) {
      for (const [status, response] of Object.entries(op.responses)) {
        for (const type of Object.keys(response.content ?? {})) {
          const concrete = path.replace(/\{\w+\}/g, "x1");
          const problems = checker.check(
            method.toUpperCase(),
            concrete,
            status === "default" ? 599 : Number(status),
            type,
            "42",
          );
          expect(problems, `${method} ${path} ${status} ${type}`).toBeDefined();
          // A string body (HTML, CSV) and JSON `42` are valid only where the schema says so.
          if (!type.startsWith("text/"))
            expect(problems!.length, `${method} ${path} ${status} ${type}`).toBeGreaterThan(0);
        }
      }
    }
  });

  it("has every handler answer JSON through typedJson, held at compile time to its declared schema", () => {
    // The document itself is checked by the validator above, not by a zod schema of OpenAPI.
    const untyped = modules.filter(
      (f) => f !== "openapi.ts" && /(^|[^A-Za-z])(json|scimJson)\(/.test(readFileSync(join(functionsDir, f), "utf8")),
    );
    expect(untyped).toEqual([]);
  });

  it("names the route, the status and the field when an answer drifts", () => {
    const problems = checkerOf(served.text).check(
      "GET",
      "/api/health",
      200,
      "application/json; charset=utf-8",
      JSON.stringify({ status: "ok", extra: 1 }),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^GET \/api\/health \(health\) answered 200: \(body\) must NOT have additional properties/,
    );
    expect(
      checkerOf(served.text).check("DELETE", "/api/environments/e1/scim/tokens/t1", 204, null, "unexpected"),
    ).toEqual([expect.stringContaining("with a body, but the document declares none")]);
  });

  const problem = (status: number, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ type: "about:blank", title: "t", status, detail: "d", ...extra });
  const scimError = (status: number, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"],
      status: String(status),
      detail: "d",
      ...extra,
    });
  const pj = "application/problem+json";

  it("holds answers no operation makes to the local host's promise: the status for the case, as a Problem", () => {
    const c = checkerOf(served.text);
    expect(c.check("GET", "/api/nothing/here", 404, pj, problem(404))).toEqual([]);
    expect(c.check("DELETE", "/api/health", 405, pj, problem(405))).toEqual([]);
    expect(c.check("GET", "/api/environments/%ZZ", 400, pj, problem(400))).toEqual([]);
    // The host's 413 comes before the app, so it is problem+json on SCIM routes too.
    expect(c.check("PUT", "/api/environments/e1/scim/v2/Users/u1", 413, pj, problem(413))).toEqual([]);
    expect(c.check("GET", "/api/nothing/here", 404, null, "")).toEqual([expect.stringContaining("with no body")]);
    expect(c.check("DELETE", "/api/health", 404, pj, problem(404))).toEqual([
      expect.stringContaining("so the host answers 405"),
    ]);
    expect(c.check("GET", "/api/nothing/here", 404, pj, problem(400))).toEqual([
      expect.stringContaining("its problem says status 400"),
    ]);
    expect(c.check("GET", "/api/nothing/here", 200, "application/json", "{}")).toEqual([
      expect.stringContaining("so the host answers 404"),
    ]);
  });

  it("routes a path as the host does: decoded segments, literals in any case, empty segments dropped", () => {
    const c = checkerOf(served.text);
    const bad = (path: string) => c.check("GET", path, 200, "application/json", "[]");
    expect(bad("/api/Environments/a%2Fb")).toEqual([expect.stringContaining("(getEnvironment) answered 200")]);
    expect(bad("//api//environments/e1/")).toEqual([expect.stringContaining("(getEnvironment) answered 200")]);
    expect(bad("/api/environments/e1/scim/v2/Users/u%2F1")).toEqual([
      expect.stringContaining("(scimGetUser) answered 200"),
    ]);
  });

  it("requires a 400 to name a field (SCIM: its scimType) and a 401 to carry WWW-Authenticate", () => {
    const c = checkerOf(served.text);
    const get = "/api/environments/e1";
    const fields = { errors: [{ field: "params.envId", message: "m" }] };
    expect(c.check("GET", get, 400, pj, problem(400, fields))).toEqual([]);
    expect(c.check("GET", get, 400, pj, problem(400))).toEqual([
      expect.stringContaining("must have required property 'errors'"),
    ]);
    expect(c.check("GET", get, 400, pj, problem(400, { errors: [] }))).toEqual([
      expect.stringContaining("must NOT have fewer than 1 items"),
    ]);
    const scim = "/api/environments/e1/scim/v2/Users/u1";
    const scimType = "application/scim+json";
    expect(c.check("GET", scim, 400, scimType, scimError(400, { scimType: "invalidValue" }))).toEqual([]);
    expect(c.check("GET", scim, 400, scimType, scimError(400))).toEqual([
      expect.stringContaining("must have required property 'scimType'"),
    ]);
    expect(c.check("GET", scim, 400, pj, problem(400, fields))).toEqual([
      expect.stringContaining("the document declares application/scim+json"),
    ]);
    const header = (value: string | undefined) => (n: string) =>
      n.toLowerCase() === "www-authenticate" ? value : undefined;
    expect(c.check("GET", get, 401, pj, problem(401), header('Bearer realm="sharing"'))).toEqual([]);
    expect(c.check("GET", get, 401, pj, problem(401), header(undefined))).toEqual([
      expect.stringContaining("without the WWW-Authenticate header"),
    ]);
    expect(c.check("GET", get, 401, pj, problem(401), header("Basic"))).toEqual([
      expect.stringContaining('with WWW-Authenticate "Basic", not as declared'),
    ]);
    expect(c.check("GET", "/api/health", 401, pj, problem(401), header(undefined))).toEqual([]);
  });
});
