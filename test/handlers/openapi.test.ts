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
const bodiless: ReadonlySet<string> = new Set(["acceptInvitation 303"]);

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
    const nonHttp = ["auditRunner", "fanout", "mailer", "outboxSweeper", "scheduledAudit"];
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
    expect(problems![0]).toMatch(
      /^GET \/api\/health \(health\) answered 200: \(body\) must NOT have additional properties/,
    );
    expect(
      checkerOf(served.text).check("DELETE", "/api/environments/e1/scim/tokens/t1", 204, null, "unexpected"),
    ).toEqual([expect.stringContaining("with a body, but the document declares none")]);
  });
});
