/**
 * Bad requests for every route of the OpenAPI document: the document's own JSON schemas give a
 * near-valid request, and mutations make it hostile (wrong types, missing and extra fields, huge
 * and deeply nested bodies, odd Unicode, ids aimed at keys and filters, wrong content types,
 * missing or forged tokens). A route added to the app is fuzzed without touching this file.
 */
import fc from "fast-check";
import { z } from "zod";
import { classify, deepJson, encodeAs, encodeComponent, hostileString, type Encoding, type Tag } from "./hostile.js";
import type { RawRequest } from "./rawHttp.js";

export interface JsonSchema {
  type?: string | string[] | undefined;
  enum?: unknown[] | undefined;
  const?: unknown;
  pattern?: string | undefined;
  format?: string | undefined;
  minLength?: number | undefined;
  maxLength?: number | undefined;
  minimum?: number | undefined;
  maximum?: number | undefined;
  minItems?: number | undefined;
  maxItems?: number | undefined;
  items?: JsonSchema | undefined;
  properties?: Record<string, JsonSchema> | undefined;
  required?: string[] | undefined;
  additionalProperties?: JsonSchema | boolean | undefined;
  propertyNames?: JsonSchema | undefined;
  anyOf?: JsonSchema[] | undefined;
  oneOf?: JsonSchema[] | undefined;
}

const jsonSchema: z.ZodType<JsonSchema> = z.lazy(() =>
  z
    .object({
      type: z.union([z.string(), z.array(z.string())]).optional(),
      enum: z.array(z.unknown()).optional(),
      const: z.unknown().optional(),
      pattern: z.string().optional(),
      format: z.string().optional(),
      minLength: z.number().optional(),
      maxLength: z.number().optional(),
      minimum: z.number().optional(),
      maximum: z.number().optional(),
      minItems: z.number().optional(),
      maxItems: z.number().optional(),
      items: jsonSchema.optional(),
      properties: z.record(z.string(), jsonSchema).optional(),
      required: z.array(z.string()).optional(),
      additionalProperties: z.union([jsonSchema, z.boolean()]).optional(),
      propertyNames: jsonSchema.optional(),
      anyOf: z.array(jsonSchema).optional(),
      oneOf: z.array(jsonSchema).optional(),
    })
    .loose(),
);

const parameterSchema = z.object({
  name: z.string(),
  in: z.enum(["path", "query", "header", "cookie"]),
  required: z.boolean().optional(),
  schema: jsonSchema,
});
const operationSchema = z
  .object({
    operationId: z.string(),
    security: z.array(z.unknown()).optional(),
    parameters: z.array(parameterSchema).optional(),
    requestBody: z.object({ content: z.record(z.string(), z.object({ schema: jsonSchema })) }).optional(),
  })
  .loose();
const documentSchema = z
  .object({ openapi: z.string(), paths: z.record(z.string(), z.record(z.string(), operationSchema)) })
  .loose();

export interface Operation {
  operationId: string;
  method: string;
  /** `/api/environments/{envId}`. */
  template: string;
  pathParams: { name: string; schema: JsonSchema }[];
  queryParams: { name: string; schema: JsonSchema; required: boolean }[];
  body?: JsonSchema | undefined;
  auth: boolean;
  /** Whether the route takes `Idempotency-Key` (the creating POSTs). */
  idempotencyKey: boolean;
}

/** Every operation of the served OpenAPI document. */
export function operationsOf(document: unknown): Operation[] {
  const doc = documentSchema.parse(document);
  const ops: Operation[] = [];
  for (const [template, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = op.parameters ?? [];
      ops.push({
        operationId: op.operationId,
        method: method.toUpperCase(),
        template,
        pathParams: params.filter((p) => p.in === "path").map((p) => ({ name: p.name, schema: p.schema })),
        queryParams: params
          .filter((p) => p.in === "query")
          .map((p) => ({ name: p.name, schema: p.schema, required: p.required ?? false })),
        // JSON bodies of any JSON media type (the SCIM routes declare application/scim+json); a form
        // post's body (the reviewer page) is read by its handler, not the JSON parser: not one of these.
        body: Object.entries(op.requestBody?.content ?? {}).find(([type]) => /json/i.test(type))?.[1].schema,
        // An empty `security` list is how the document marks the routes that take no token.
        auth: !(op.security !== undefined && op.security.length === 0),
        idempotencyKey: params.some((p) => p.in === "header" && p.name === "Idempotency-Key"),
      });
    }
  }
  return ops;
}

/** Real ids and tokens of the fuzzed world, so near-valid requests get past the first checks. */
export interface FuzzWorld {
  envIds: string[];
  resourceIds: string[];
  userIds: string[];
  groupIds: string[];
  /** Other known ids by parameter name (copyId, auditId, recordingId, invitationId, token …). */
  more: Record<string, string[]>;
  /** Valid tokens of various callers, by a label. */
  tokens: Record<string, string>;
  /** Forged or malformed Authorization values (full header values). */
  badAuthorization: Record<string, string>;
}

export interface Generated {
  op: Operation;
  req: RawRequest;
  tags: Set<Tag>;
}

const idRegex = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function knownIds(name: string, world: FuzzWorld): string[] {
  const exact = world.more[name];
  if (exact && exact.length > 0) return exact;
  const n = name.toLowerCase();
  if (n.startsWith("env")) return world.envIds;
  if (n.includes("resource")) return world.resourceIds;
  if (n.includes("group")) return world.groupIds;
  if (/user|principal|creator|owner|member|recipient|^id$/.test(n)) return [...world.userIds, ...world.groupIds];
  return [...world.userIds, ...world.resourceIds];
}

/** A value the schema accepts (or close to it: formats and cross-field rules are not modelled). */
export function validish(schema: JsonSchema, name: string, world: FuzzWorld, depth = 0): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum && schema.enum.length > 0) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives && alternatives.length > 0)
    return fc.oneof(...alternatives.map((s) => validish(s, name, world, depth + 1)));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "string": {
      if (schema.pattern === idRegex.source) {
        const known = knownIds(name, world);
        return fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom(...(known.length > 0 ? known : ["x"])) },
          { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/) },
        );
      }
      if (schema.format === "email") return fc.emailAddress().filter((e) => e.length <= 254);
      const min = schema.minLength ?? 0;
      return fc.string({
        minLength: Math.max(min, 1),
        maxLength: Math.max(Math.min(schema.maxLength ?? 30, 30), min, 1),
      });
    }
    case "integer":
      return fc.integer({ min: schema.minimum ?? -1000, max: schema.maximum ?? 1000 });
    case "number":
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case "boolean":
      return fc.boolean();
    case "array": {
      const itemName = name.endsWith("s") ? name.slice(0, -1) : name;
      const min = schema.minItems ?? 0;
      return fc.array(
        schema.items ? validish(schema.items, itemName, world, depth + 1) : fc.jsonValue({ maxDepth: 1 }),
        {
          minLength: min,
          maxLength: Math.max(min, Math.min(schema.maxItems ?? 3, 3)),
        },
      );
    }
    case "object": {
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, s] of Object.entries(schema.properties ?? {})) model[key] = validish(s, key, world, depth + 1);
      const fixed = fc.record(model, { requiredKeys: (schema.required ?? []).filter((k) => k in model) });
      if (typeof schema.additionalProperties === "object") {
        const keyArb = schema.propertyNames
          ? validish(schema.propertyNames, `${name}Key`, world, depth + 1).map(String)
          : fc.string({ maxLength: 10 });
        const extra = fc.dictionary(keyArb, validish(schema.additionalProperties, name, world, depth + 1), {
          maxKeys: 3,
        });
        return fc.tuple(fixed, extra).map(([a, b]) => ({ ...b, ...a }));
      }
      return fixed;
    }
    default:
      return fc.jsonValue({ maxDepth: depth > 2 ? 0 : 2 });
  }
}

type Path = (string | number)[];

/** Every path to a value inside `v` (the root excluded), containers included. */
function pathsOf(v: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  if (Array.isArray(v)) {
    v.forEach((item, i) => {
      out.push([...prefix, i]);
      pathsOf(item, [...prefix, i], out);
    });
  } else if (v !== null && typeof v === "object") {
    for (const [k, item] of Object.entries(v)) {
      out.push([...prefix, k]);
      pathsOf(item, [...prefix, k], out);
    }
  }
  return out;
}

/** Objects inside `v`, root included: places to add or remove a field. */
function objectPaths(v: unknown): Path[] {
  const all: Path[] = [[], ...pathsOf(v)];
  return all.filter((p) => {
    const at = get(v, p);
    return at !== null && typeof at === "object" && !Array.isArray(at);
  });
}

function get(v: unknown, path: Path): unknown {
  let cur = v;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

/** A copy of `v` with `path` set to `value` (own property, even for `__proto__`), or deleted when `value` is `deleteMarker`. */
const deleteMarker = Symbol("delete");
function setAt(v: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  const copy: Record<string | number, unknown> = Array.isArray(v)
    ? ([...(v as unknown[])] as unknown as Record<number, unknown>)
    : { ...(v as Record<string, unknown>) };
  if (rest.length === 0 && value === deleteMarker) {
    if (Array.isArray(copy)) copy.splice(Number(head), 1);
    else delete copy[head!];
  } else {
    Object.defineProperty(copy, head!, {
      value: rest.length === 0 ? value : setAt(copy[head!], rest, value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

/** Stand-ins swapped for text after JSON.stringify: values too big or too deep to build as objects. */
const marker = (name: string) => `\u0001${name}\u0001`;
const bigValues: Record<string, { text: string; tag: Tag }> = {
  [marker("huge300k")]: { text: JSON.stringify(`${"\u202E'|/x".repeat(60 * 1024)}`), tag: "body256k" },
  [marker("huge1100k")]: { text: JSON.stringify("a".repeat(1100 * 1024)), tag: "body1m" },
  [marker("deepArray")]: { text: deepJson(20_000, "array"), tag: "deepNesting" },
  [marker("deepObject")]: { text: deepJson(8_000, "object"), tag: "deepNesting" },
  [marker("deep100")]: { text: deepJson(100, "object"), tag: "deepNesting" },
};

function serialize(v: unknown, tags: Set<Tag>): string {
  let text = JSON.stringify(v) ?? "null";
  for (const [m, big] of Object.entries(bigValues)) {
    const quoted = JSON.stringify(m);
    if (text.includes(quoted)) {
      text = text.split(quoted).join(big.text);
      tags.add(big.tag);
    }
  }
  return text;
}

function classifyDeep(v: unknown, tags: Set<Tag>): void {
  if (typeof v === "string") classify(v, tags);
  else if (Array.isArray(v)) v.forEach((x) => classifyDeep(x, tags));
  else if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      classify(k, tags);
      classifyDeep(x, tags);
    }
  }
}

const wrongTypeValue = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.double(),
  fc.constant([]),
  fc.constant({}),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
  fc.string({ maxLength: 10 }),
);
const extraKey = fc.oneof(
  fc.constantFrom(
    "__proto__",
    "constructor",
    "prototype",
    "PartitionKey",
    "RowKey",
    "odata.etag",
    "etag",
    "json",
    "envId",
    "ownerId",
    "isAdmin",
    "roles",
  ),
  fc.string({ maxLength: 12 }),
);

export interface BodyOut {
  body: Buffer | string | undefined;
  tags: Set<Tag>;
}

/** A body for an operation with a request body schema: near-valid, mutated, or junk. */
function bodyFor(schema: JsonSchema, world: FuzzWorld): fc.Arbitrary<BodyOut> {
  const base = validish(schema, "body", world);
  const hostile = hostileString(world);
  const at = <T>(v: unknown, paths: Path[], pick: number, f: (p: Path) => T): T | undefined =>
    paths.length === 0 ? undefined : f(paths[pick % paths.length]!);
  const out = (v: unknown, tag?: Tag): BodyOut => {
    const tags = new Set<Tag>(tag ? [tag] : []);
    classifyDeep(v, tags);
    return { body: serialize(v, tags), tags };
  };

  return fc.oneof(
    { weight: 3, arbitrary: base.map((v) => out(v, "validish")) },
    {
      weight: 2,
      arbitrary: fc.tuple(base, fc.nat()).map(([v, pick]) => {
        // Remove a field somewhere (required ones included): the object must say which is missing.
        const candidates = pathsOf(v).filter((p) => typeof p[p.length - 1] === "string");
        return out(at(v, candidates, pick, (p) => setAt(v, p, deleteMarker)) ?? {}, "missingField");
      }),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(base, fc.nat(), wrongTypeValue)
        .map(([v, pick, w]) => out(at(v, pathsOf(v), pick, (p) => setAt(v, p, w)) ?? w, "wrongType")),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(base, fc.nat(), extraKey, fc.jsonValue({ maxDepth: 2 })).map(([v, pick, key, value]) => {
        const objects = objectPaths(v);
        const target = objects[pick % Math.max(objects.length, 1)] ?? [];
        const r = out(setAt(v, [...target, key], value), "extraField");
        if (key === "__proto__" || key === "constructor" || key === "prototype") r.tags.add("protoKey");
        return r;
      }),
    },
    {
      weight: 5,
      arbitrary: fc.tuple(base, fc.nat(), hostile).map(([v, pick, s]) => {
        // Hostile text in place of a string (an id, a name, a role): the one place lone surrogates reach the app.
        const strings = pathsOf(v).filter((p) => typeof get(v, p) === "string");
        return out(at(v, strings, pick, (p) => setAt(v, p, s)) ?? setAt(v, ["displayName"], s));
      }),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(base, fc.nat(), fc.constantFrom(...Object.keys(bigValues))).map(([v, pick, m]) => {
        const paths = pathsOf(v);
        return out(at(v, paths, pick, (p) => setAt(v, p, m)) ?? m);
      }),
    },
    { weight: 2, arbitrary: junkBody },
  );
}

/** A body that is not what any route wants. */
const junkBody: fc.Arbitrary<BodyOut> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => ({ body: JSON.stringify(v) ?? "null", tags: new Set<Tag>(["wrongType"]) })),
  fc.string({ unit: "binary", maxLength: 40 }).map((s) => ({ body: s, tags: new Set<Tag>(["notJson"]) })),
  fc
    .constantFrom(
      "",
      " ",
      "{",
      '{"a":',
      "{}garbage",
      '{"role":"owner","role":"nope"}',
      "\uFEFF{}",
      "[1,2,",
      "null",
      "NaN",
      "'single'",
      '{"a":1,}',
    )
    .map((s) => ({
      body: s,
      tags: new Set<Tag>(["notJson"]),
    })),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => ({
    body: Buffer.concat([
      Buffer.from('{"displayName":"'),
      Buffer.from([0xff, 0xfe, 0xed, 0xa0, 0x80]),
      Buffer.from(bytes),
      Buffer.from('"}'),
    ]),
    tags: new Set<Tag>(["invalidUtf8"]),
  })),
  fc.constantFrom(...Object.keys(bigValues)).map((m) => {
    const tags = new Set<Tag>();
    return { body: serialize({ a: m }, tags), tags };
  }),
);

const contentTypes = fc.oneof(
  { weight: 12, arbitrary: fc.constant("application/json") },
  { weight: 1, arbitrary: fc.constant("application/json; charset=utf-8") },
  { weight: 1, arbitrary: fc.constant(undefined) },
  {
    weight: 5,
    arbitrary: fc.constantFrom(
      "text/plain",
      "application/xml",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/jsonx",
      "application/json; charset=utf-16",
      "APPLICATION/JSON",
      "application/merge-patch+json",
      "text/html",
      "*/*",
      "\u00e9/\u00e9",
    ),
  },
);

function authFor(op: Operation, world: FuzzWorld): fc.Arbitrary<{ header?: string; tag: Tag }> {
  const valid = fc
    .constantFrom(...Object.values(world.tokens))
    .map((t) => ({ header: `Bearer ${t}`, tag: "validToken" as Tag }));
  const bad = fc
    .constantFrom(...Object.values(world.badAuthorization))
    .map((h) => ({ header: h, tag: "badToken" as Tag }));
  const none = fc.constant({ tag: "noToken" as Tag });
  if (!op.auth)
    return fc.oneof({ weight: 4, arbitrary: none }, { weight: 1, arbitrary: valid }, { weight: 1, arbitrary: bad });
  return fc.oneof({ weight: 12, arbitrary: valid }, { weight: 2, arbitrary: none }, { weight: 3, arbitrary: bad });
}

function paramValue(p: { name: string; schema: JsonSchema }, world: FuzzWorld): fc.Arbitrary<string> {
  return fc.oneof(
    {
      weight: 10,
      arbitrary: validish(p.schema, p.name, world).map((v) => (typeof v === "string" ? v : (JSON.stringify(v) ?? ""))),
    },
    { weight: 9, arbitrary: hostileString(world) },
  );
}

const encodings = fc.constantFrom<Encoding>("component", "component", "component", "raw", "raw", "double");

/** One generated request for `op`. */
export function requestFor(op: Operation, world: FuzzWorld): fc.Arbitrary<Generated> {
  const otherMethods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"].filter((m) => m !== op.method);
  return fc
    .record({
      method: fc.oneof(
        { weight: 19, arbitrary: fc.constant(op.method) },
        { weight: 1, arbitrary: fc.constantFrom(...otherMethods) },
      ),
      params: fc.tuple(...op.pathParams.map((p) => fc.tuple(paramValue(p, world), encodings))),
      query: fc.tuple(...op.queryParams.map((q) => fc.option(paramValue(q, world), { nil: undefined, freq: 3 }))),
      extraQuery: fc.option(
        fc.tuple(
          fc.oneof(
            fc.constantFrom("$filter", "$select", "$top", "kind", "search", "continuationToken"),
            hostileString(world),
          ),
          hostileString(world),
        ),
        { nil: undefined, freq: 3 },
      ),
      body: op.body
        ? bodyFor(op.body, world)
        : fc.oneof(
            { weight: 6, arbitrary: fc.constant<BodyOut>({ body: undefined, tags: new Set() }) },
            { weight: 1, arbitrary: junkBody },
          ),
      contentType: contentTypes,
      auth: authFor(op, world),
      // Valid keys, and what an HTTP client can put in a header that a key may not hold: empty, too
      // long, Latin-1 beyond ASCII, tabs (Node refuses to send CR, LF and NUL).
      idempotencyKey: op.idempotencyKey
        ? fc.option(
            fc.oneof(
              fc.string({
                unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
                maxLength: 255,
              }),
              fc.string({
                unit: fc.constantFrom("\t", "é", "\u00ff", "a", "#", "/", "?"),
                minLength: 0,
                maxLength: 300,
              }),
              fc.constant("k".repeat(256)),
            ),
            { nil: undefined, freq: 2 },
          )
        : fc.constant(undefined),
    })
    .map((g) => {
      const tags = new Set<Tag>(g.body.tags);
      tags.add(g.auth.tag);
      if (g.method !== op.method) tags.add("wrongMethod");
      const build = (limit: number): string => {
        let i = 0;
        let path = op.template.replace(/\{(\w+)\}/g, () => {
          const [value, how] = g.params[i++] ?? ["", "component"];
          return encodeAs(value.slice(0, limit), how);
        });
        const pairs: string[] = [];
        op.queryParams.forEach((q, j) => {
          const v = g.query[j];
          if (v !== undefined) pairs.push(`${encodeComponent(q.name)}=${encodeComponent(v.slice(0, limit))}`);
        });
        if (g.extraQuery)
          pairs.push(
            `${encodeComponent(g.extraQuery[0].slice(0, limit))}=${encodeComponent(g.extraQuery[1].slice(0, limit))}`,
          );
        if (pairs.length > 0) path += `?${pairs.join("&")}`;
        return path;
      };
      for (const [value] of g.params) classify(value, tags);
      for (const v of g.query) if (v !== undefined) classify(v, tags);
      if (g.extraQuery) {
        tags.add("extraQuery");
        classify(g.extraQuery[0], tags);
        classify(g.extraQuery[1], tags);
      }
      // Node's HTTP parser caps the request line and headers at 16 KiB (431, before any app code):
      // keep under it, so what is tested is the app and the host, not Node's parser.
      let path = build(Infinity);
      if (path.length + (g.auth.header?.length ?? 0) > 12_000) path = build(200);
      if (/%(?![0-9A-Fa-f]{2})/.test(path.split("?")[0] ?? "")) tags.add("badPercent");
      const headers: Record<string, string> = {};
      if (g.auth.header !== undefined) headers.authorization = g.auth.header;
      if (g.idempotencyKey !== undefined) {
        headers["idempotency-key"] = g.idempotencyKey;
        tags.add("idempotencyKey");
      }
      if (g.body.body !== undefined) {
        if (g.contentType === undefined) tags.add("noContentType");
        else {
          headers["content-type"] = g.contentType;
          if (!/^application\/json/i.test(g.contentType)) tags.add("wrongContentType");
        }
      }
      const req: RawRequest = {
        method: g.method,
        path,
        headers,
        ...(g.body.body !== undefined ? { body: g.body.body } : {}),
      };
      const generated: Generated = { op, req, tags };
      // fast-check prints counterexamples with this: the request, not the whole route description.
      Object.defineProperty(generated, fc.toStringMethod, { value: () => describe(generated), enumerable: false });
      return generated;
    });
}

/** How a generated request looks in a failure message: enough to send it again by hand. */
export function describe(g: Generated): string {
  const body =
    g.req.body === undefined
      ? "(none)"
      : Buffer.isBuffer(g.req.body)
        ? `<${g.req.body.length} bytes> ${g.req.body.toString("utf8").slice(0, 300)}`
        : `<${Buffer.byteLength(g.req.body)} bytes> ${g.req.body.slice(0, 300)}`;
  const auth = g.req.headers?.authorization;
  return [
    `${g.req.method} ${g.req.path.slice(0, 500)}  (route ${g.op.operationId}; tags ${[...g.tags].join(",")})`,
    `  content-type: ${g.req.headers?.["content-type"] ?? "(none)"}`,
    `  authorization: ${auth === undefined ? "(none)" : `${auth.slice(0, 60)}… (${auth.length} chars)`}`,
    `  body: ${JSON.stringify(body)}`,
  ].join("\n");
}
