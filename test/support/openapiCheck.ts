/**
 * Checks an answer against the app's own OpenAPI document: the operation found by method and path
 * template, the response by status (else `default`), the media type among those declared, and the
 * body against its JSON schema (OpenAPI 3.1 schemas are JSON Schema 2020-12, so Ajv's 2020 dialect
 * reads them as they are). The e2e client runs every answer through it, so a handler that drifts
 * from the document fails the test that saw it.
 */
import { createHash } from "node:crypto";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";

// ajv-formats is CommonJS with a default export; under NodeNext the function sits on `.default`.
const addFormats = addFormatsModule.default;

interface MediaType {
  schema?: unknown;
}
interface Response {
  content?: Record<string, MediaType>;
}
interface Operation {
  operationId?: string;
  responses?: Record<string, Response>;
}
interface Document {
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
}

interface Route {
  template: string;
  pattern: RegExp;
  literalSegments: number;
  item: Record<string, Operation>;
}

/** One document's routes and compiled validators; built once per document text in this process. */
class Checker {
  private readonly routes: Route[];
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });

  constructor(private readonly doc: Document) {
    addFormats(this.ajv);
    this.routes = Object.entries(doc.paths ?? {})
      .map(([template, item]) => {
        const segments = template.split("/");
        const pattern = new RegExp(
          `^${segments.map((s) => (/^\{\w+\}$/.test(s) ? "[^/]+" : s.replace(/[.*+?^$()|[\]\\]/g, "\\$&"))).join("/")}$`,
        );
        return { template, pattern, literalSegments: segments.filter((s) => !s.startsWith("{")).length, item };
      })
      // Literal segments win over parameters (`.../scim/v2/Users` before `.../{x}/{y}/Users`).
      .sort((a, b) => b.literalSegments - a.literalSegments);
  }

  /** The validator of one schema of the document, with its `#/components/...` references inlined. */
  private validator(key: string, schema: unknown): ValidateFunction {
    let v = this.validators.get(key);
    if (!v) {
      v = this.ajv.compile(this.inline(schema) as object);
      this.validators.set(key, v);
    }
    return v;
  }

  private inline(node: unknown): unknown {
    if (Array.isArray(node)) return node.map((n) => this.inline(n));
    if (node === null || typeof node !== "object") return node;
    const ref = (node as { $ref?: unknown }).$ref;
    if (typeof ref === "string" && ref.startsWith("#/components/schemas/")) {
      const target = this.doc.components?.schemas?.[ref.slice("#/components/schemas/".length)];
      if (target === undefined) throw new Error(`the document references ${ref}, which it does not define`);
      // A nested `$schema` is not allowed below the root.
      const { $schema: _, ...rest } = target as Record<string, unknown>;
      return this.inline(rest);
    }
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, this.inline(v)]));
  }

  /** Problems with the answer (empty when it matches), or undefined when the path is no route of the document. */
  check(method: string, path: string, status: number, contentType: string | null, text: string): string[] | undefined {
    const pathOnly = path.split("?")[0]!;
    const route = this.routes.find((r) => r.pattern.test(pathOnly) && r.item[method.toLowerCase()] !== undefined);
    if (!route) return undefined;
    const operation = route.item[method.toLowerCase()]!;
    const where = `${method} ${route.template} (${operation.operationId ?? "?"}) answered ${status}`;
    const declared = operation.responses?.[String(status)] ?? operation.responses?.default;
    if (!declared) return [`${where}, a status the document does not list (and it has no default)`];
    const content = declared.content;
    if (text === "") {
      return content === undefined || status === 204 || status === 304
        ? []
        : [`${where} with no body, but the document declares ${Object.keys(content).join(", ")}`];
    }
    if (content === undefined) return [`${where} with a body, but the document declares none: ${text.slice(0, 200)}`];
    const mediaType = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
    const media = content[mediaType];
    if (!media) {
      return [
        `${where} as ${mediaType || "(no content-type)"}; the document declares ${Object.keys(content).join(", ")}`,
      ];
    }
    if (media.schema === undefined) return [`${where} as ${mediaType}, which has no schema in the document`];
    let body: unknown = text;
    if (mediaType === "application/json" || mediaType.endsWith("+json")) {
      try {
        body = JSON.parse(text);
      } catch {
        return [`${where} as ${mediaType}, but the body is not JSON: ${text.slice(0, 200)}`];
      }
    }
    const validate = this.validator(`${route.template} ${method} ${status} ${mediaType}`, media.schema);
    if (validate(body)) return [];
    return (validate.errors ?? []).map(
      (e) => `${where}: ${e.instancePath || "(body)"} ${e.message ?? "is invalid"} ${JSON.stringify(e.params)}`,
    );
  }
}

const checkers = new Map<string, Checker>();

/** The checker of this document text, compiled once per process however many stacks serve it. */
export function checkerOf(documentText: string): Checker {
  const key = createHash("sha256").update(documentText).digest("hex");
  let checker = checkers.get(key);
  if (!checker) {
    checker = new Checker(JSON.parse(documentText) as Document);
    checkers.set(key, checker);
  }
  return checker;
}

export class ResponseMismatch extends Error {
  override name = "ResponseMismatch";
}

/** Throws a `ResponseMismatch` naming the route, the status and each validation error, if the answer drifts from the document. */
export function assertMatchesDocument(
  checker: Checker,
  method: string,
  path: string,
  status: number,
  contentType: string | null,
  text: string,
): void {
  const problems = checker.check(method, path, status, contentType, text);
  if (problems && problems.length > 0) {
    throw new ResponseMismatch(
      `the answer does not match the OpenAPI document:\n  ${problems.join("\n  ")}\nbody: ${text.slice(0, 1000)}`,
    );
  }
}
