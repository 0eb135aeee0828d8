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
  headers?: Record<string, { required?: boolean; schema?: unknown }>;
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
  /** Lower-cased literal segments, `undefined` for a `{parameter}`. */
  segments: (string | undefined)[];
  item: Record<string, Operation>;
}

/*
 * Answers the host makes itself, before any function runs, so no operation of the document lists
 * them: 400 for a path that is not validly percent-encoded, 404 for a path no route serves, 405 for
 * a method the path does not take (with `Allow`), 413 for a body over the host's limit. The local
 * host (tools/host) answers them as problem+json, the document's `Problem`; Azure's host answers
 * the same cases with its own bodies (an empty 404, also for a wrong method), which the document's
 * description says and this check does not pretend to cover.
 */
/** One document's routes and compiled validators; built once per document text in this process. */
class Checker {
  private readonly routes: Route[];
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });

  constructor(private readonly doc: Document) {
    addFormats(this.ajv);
    this.routes = Object.entries(doc.paths ?? {})
      .map(([template, item]) => ({
        template,
        segments: template
          .split("/")
          .filter((s) => s !== "")
          .map((s) => (/^\{\w+\}$/.test(s) ? undefined : s.toLowerCase())),
        item,
      }))
      // As the host ranks routes: segment by segment, a literal before a parameter (`.../scim/v2/Users` before `.../{x}/{y}/Users`).
      .sort((a, b) => {
        for (let i = 0; i < Math.max(a.segments.length, b.segments.length); i++) {
          const diff = Number(b.segments[i] !== undefined) - Number(a.segments[i] !== undefined);
          if (diff !== 0) return diff;
        }
        return 0;
      });
  }

  /**
   * The route the host gives this method and path, matched as the host does (tools/host/routing.ts):
   * empty segments dropped, each segment percent-decoded, literals in any case. "wrongMethod" when
   * routes match the path but none takes the method, `undefined` when none matches the path,
   * "undecodable" when the path can't be decoded.
   */
  private routeOf(method: string, path: string): Route | "undecodable" | "wrongMethod" | undefined {
    let segments: string[];
    try {
      segments = path
        .split("?")[0]!
        .split("/")
        .filter((s) => s !== "")
        .map(decodeURIComponent);
    } catch {
      return "undecodable";
    }
    const matching = this.routes.filter(
      (r) =>
        r.segments.length === segments.length &&
        r.segments.every((s, i) => s === undefined || s === segments[i]!.toLowerCase()),
    );
    return (
      matching.find((r) => r.item[method.toLowerCase()] !== undefined) ??
      (matching.length > 0 ? "wrongMethod" : undefined)
    );
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

  /**
   * Problems with the answer (empty when it matches). An answer no operation makes is held to the
   * local host's promise (below): the status for that case, as a `Problem` whose `status` is the
   * HTTP status.
   */
  check(
    method: string,
    path: string,
    status: number,
    contentType: string | null,
    text: string,
    /** The answer's headers by name, to check the ones the document requires; without it they are not checked. */
    headerOf?: (name: string) => string | null | undefined,
  ): string[] {
    const route = this.routeOf(method, path);
    if (typeof route !== "object" || status === 413) {
      const where = `the host's answer ${status} to ${method} ${path.slice(0, 200)}`;
      const expected = route === "undecodable" ? 400 : route === "wrongMethod" ? 405 : route === undefined ? 404 : 413;
      if (status !== expected && status !== 413)
        return [`${where}: no operation of the document takes this request, so the host answers ${expected}`];
      const problems = this.checkBody(
        where,
        { "application/problem+json": { schema: problemRef } },
        "",
        contentType,
        text,
      );
      if (problems.length > 0) return problems;
      const echoed = (JSON.parse(text) as { status?: unknown }).status;
      return echoed === status ? [] : [`${where}: its problem says status ${String(echoed)}`];
    }
    const operation = route.item[method.toLowerCase()]!;
    const where = `${method} ${route.template} (${operation.operationId ?? "?"}) answered ${status}`;
    const declared = operation.responses?.[String(status)] ?? operation.responses?.default;
    if (!declared) return [`${where}, a status the document does not list (and it has no default)`];
    const headerProblems = Object.entries(headerOf ? (declared.headers ?? {}) : {}).flatMap(([name, h]) => {
      const value = headerOf!(name) ?? "";
      if (value === "") return h.required === true ? [`${where} without the ${name} header the document requires`] : [];
      if (h.schema === undefined) return [];
      const validate = this.validator(`${route.template} ${method} ${status} header ${name}`, h.schema);
      return validate(value) ? [] : [`${where} with ${name} "${String(value).slice(0, 100)}", not as declared`];
    });
    return [
      ...headerProblems,
      ...this.checkBody(where, declared.content, `${route.template} ${method} ${status}`, contentType, text, status),
    ];
  }

  private checkBody(
    where: string,
    content: Record<string, MediaType> | undefined,
    key: string,
    contentType: string | null,
    text: string,
    status?: number,
  ): string[] {
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
    const validate = this.validator(`${key} ${mediaType}`, media.schema);
    if (validate(body)) return [];
    return (validate.errors ?? []).map(
      (e) => `${where}: ${e.instancePath || "(body)"} ${e.message ?? "is invalid"} ${JSON.stringify(e.params)}`,
    );
  }
}

const problemRef = { $ref: "#/components/schemas/Problem" };

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
  headerOf?: (name: string) => string | null | undefined,
): void {
  const problems = checker.check(method, path, status, contentType, text, headerOf);
  if (problems.length > 0) {
    throw new ResponseMismatch(
      `the answer does not match the OpenAPI document:\n  ${problems.join("\n  ")}\nbody: ${text.slice(0, 1000)}`,
    );
  }
}
