import { describe, expect, it } from "vitest";
import { z } from "zod";
import { auditRunSchema, findingSchema } from "../../shared/model/audits.js";
import {
  checkBody,
  directoryQuery,
  environmentBody,
  kindQuery,
  membershipBody,
  reassignBody,
  recordingBody,
  resourceBody,
  sendCopyBody,
  shareBody,
  expiryBody,
  instantPattern,
  userBody,
  changesQuery,
} from "../../shared/model/api.js";
import { toProblem } from "../../shared/adapters/http/problem.js";
import { StorageLimitError } from "../../shared/errors.js";
import { flowCopySchema } from "../../shared/model/copies.js";
import { connectorNameSchema } from "../../shared/model/dlp.js";
import { emailRecordSchema } from "../../shared/model/emailRecords.js";
import { emailJobSchema, type EmailJob } from "../../shared/model/emailJobs.js";
import type { OutboxItemInput } from "../../shared/model/outbox.js";
import {
  changeEntrySchema,
  environmentSchema,
  grantSchema,
  idSchema,
  indexEntrySchema,
  invitationSchema,
  membershipSchema,
  principalRefSchema,
  recordingSchema,
  resourceSchema,
  tenantUserSchema,
} from "../../shared/model/records.js";
import { reviewerKeySchema } from "../../shared/model/reviews.js";
import { reassignmentItemSchema, reassignmentJobSchema } from "../../shared/model/reassignments.js";
import { offboardingItemSchema, offboardingJobSchema } from "../../shared/model/offboardings.js";
import { scimGroupRecordSchema, scimLookupSchema, scimUserRecordSchema } from "../../shared/model/scim.js";
import { checkKeys, checkRow, checkTransaction, tableLimits, transactionBytes } from "../../shared/ports/rowLimits.js";
import { queryAll, type Row, type WriteOp } from "../../shared/ports/rows.js";
import { chunkFindings } from "../../shared/store/auditsRepository.js";
import { keys, newestFirstKey, tableNames, throughKey } from "../../shared/store/keys.js";
import { decodeRow, encodedLength, encodeRow, maxJsonChars, sameRecord } from "../../shared/store/rowJson.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import { sendCopy } from "../../shared/usecases/copies.js";
import { putEnvironment, putMembership, putUser } from "../../shared/usecases/directory.js";
import { outboxItems } from "../../shared/usecases/mutate.js";
import { reassign } from "../../shared/usecases/reassign.js";
import { deleteResource, putRecording, putResource } from "../../shared/usecases/resources.js";
import { share } from "../../shared/usecases/sharing.js";
import { sweepOutbox } from "../../shared/usecases/relay.js";
import { memoryCaps } from "../support/memoryCaps.js";

/**
 * Every caller-controlled field ends up inside one row, as JSON (`rowJson.ts`), or inside a key. These
 * tests build the largest value each stored record's schema allows, and the largest requests the API
 * accepts, and check that the rows and transactions they become stay inside Azure Tables' limits
 * (`rowLimits.ts`): a schema change that would break one fails here, not in production.
 *
 * Free text is filled with U+0001, which JSON writes as `\u0001`: six characters for one.
 *
 * Groups are left out: `groupSchema.memberIds` (5,000 ids) can't fit one row, and another branch
 * moves a group's members into rows of their own.
 */

const table = tableNames("sharing");
/** The longest id `idSchema` allows, unique by `n`. */
const id = (n: number | string) => `${n}`.padStart(128, "i");
const nasty = (n: number) => "\u0001".repeat(n);

// -- the largest value of a schema -------------------------------------------------------------

type JsonSchema = {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  maxItems?: number;
  maxProperties?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  format?: string;
};

/** How many items or characters a field the schema leaves unbounded can hold, and what bounds it. */
type Bounds = Record<string, { max: number; why: string }>;

const idPattern = (z.toJSONSchema(idSchema) as JsonSchema).pattern;
const connectorPattern = (z.toJSONSchema(connectorNameSchema) as JsonSchema).pattern;
/** A review's reviewer key (`u.{userId}`, `fallback`, `admins`): the longest is a user's. */
const reviewerKeyPattern = (z.toJSONSchema(reviewerKeySchema) as JsonSchema).pattern;

/**
 * The value of the schema that takes the most characters once encoded: every optional field
 * present, every array and string at its maximum, free text in characters JSON escapes. A field
 * without a maximum must be named in `bounds`, with what bounds it instead.
 */
function largest(schema: z.ZodType, bounds: Bounds = {}): unknown {
  let unique = 0;
  const bound = (path: string, what: string) => {
    const b = bounds[path];
    if (!b) throw new Error(`${path}: the schema sets no maximum for this ${what}; name what bounds it`);
    return b.max;
  };
  const longest = (values: unknown[]) =>
    values.reduce((a, b) => (JSON.stringify(b).length > JSON.stringify(a).length ? b : a));
  const build = (s: JsonSchema, path: string): unknown => {
    if (s.const !== undefined) return s.const;
    if (s.enum) return longest(s.enum);
    const branches = s.oneOf ?? s.anyOf;
    if (branches) return longest(branches.map((b) => build(b, path)));
    switch (s.type) {
      case "null":
        return null;
      case "boolean":
        return false;
      case "integer":
      case "number":
        return longest([s.minimum ?? Number.MIN_SAFE_INTEGER, s.maximum ?? Number.MAX_SAFE_INTEGER]);
      case "string": {
        // Times are the server's (`toISOString`); no request body carries one (see the request test).
        if (s.format === "date-time") return "2026-12-31T23:59:59.999999999+23:59";
        // An instant a caller sends (`expiresAt`): the longest its pattern and maxLength allow.
        if (s.pattern === instantPattern.source) return "2026-12-31T23:59:59.999999999+23:59";
        if (s.pattern === idPattern) return id(`u${unique++}`);
        if (s.pattern === reviewerKeyPattern) return `u.${id(`u${unique++}`)}`;
        // A policy's connector: no character JSON escapes is allowed, so the longest is any other, unique per class list.
        if (s.pattern === connectorPattern)
          return `${unique++}`.padStart(s.maxLength ?? bound(path, "string"), "\u00e9");
        if (s.format === "email") return `${"e".repeat(64)}@${`${unique++}`.padStart(181, "d")}.example`;
        if (s.pattern) throw new Error(`${path}: no builder for the pattern ${s.pattern}`);
        return nasty(s.maxLength ?? bound(path, "string"));
      }
      case "array":
        return Array.from({ length: s.maxItems ?? bound(path, "array") }, () => build(s.items ?? {}, `${path}[]`));
      case "object": {
        const out: Record<string, unknown> = {};
        for (const [name, p] of Object.entries(s.properties ?? {}))
          out[name] = build(p, path ? `${path}.${name}` : name);
        const values = s.additionalProperties;
        if (values && typeof values === "object") {
          const names = s.propertyNames ?? {};
          if (names.enum) for (const name of names.enum) out[String(name)] = build(values, `${path}{}`);
          else {
            const n = s.maxProperties ?? bound(path, "record");
            for (let i = 0; i < n; i++) out[String(build(names, `${path}{key}`))] = build(values, `${path}{}`);
          }
        }
        return out;
      }
    }
    throw new Error(`${path}: can't build the largest value of ${JSON.stringify(s)}`);
  };
  const value = build(z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema, "");
  return schema.parse(value);
}

// -- stored records ----------------------------------------------------------------------------

const env = id("env");
const res = id("res");
const user = id("user");
const list = { type: "sharePointList" as const, id: id("list") };
/** The longest row key a change gets: the time, then a change id (`newId()`, 19 characters; 80 by its schema). */
const changeRk = newestFirstKey(new Date(), "c".repeat(80));

interface StoredRow {
  name: string;
  table: string;
  pk: string;
  rk: string;
  schema: z.ZodType;
  bounds?: Bounds;
}

const connectionsOfAFlow = {
  max: 100,
  why: "the flow's connections: resourceBody.connections allows 100",
};

const storedRows: StoredRow[] = [
  { name: "environment", table: table.environments, pk: keys.environmentPk, rk: env, schema: environmentSchema },
  {
    name: "tenant user",
    table: table.principals,
    pk: keys.principalPk({ type: "user", id: user }),
    rk: keys.profileRk,
    schema: tenantUserSchema,
  },
  {
    name: "membership (environment's side)",
    table: table.directory,
    pk: keys.directoryPk(env),
    rk: keys.envMemberRk(user),
    schema: membershipSchema,
  },
  {
    name: "membership (user's side)",
    table: table.principals,
    pk: keys.principalPk({ type: "user", id: user }),
    rk: keys.memberRk(env),
    schema: membershipSchema,
  },
  {
    name: "provisioning's record of a user (SCIM)",
    table: table.directory,
    pk: keys.directoryPk(env),
    rk: keys.scimUserRk(user),
    schema: scimUserRecordSchema,
  },
  {
    name: "provisioning's record of a group (SCIM)",
    table: table.directory,
    pk: keys.directoryPk(env),
    rk: keys.scimGroupRk(list.id),
    schema: scimGroupRecordSchema,
  },
  {
    name: "provisioning's externalId lookup (SCIM)",
    table: table.directory,
    pk: keys.directoryPk(env),
    rk: keys.scimExternalIdRk("group", "f".repeat(64)),
    schema: scimLookupSchema,
  },
  {
    name: "member of a group or list (the user's side)",
    table: table.directory,
    pk: keys.memberBucketPk(env, user),
    rk: keys.userGroupRk(user, list.id),
    schema: principalRefSchema,
  },
  {
    name: "resource",
    table: table.resources,
    pk: keys.resourcePk(env, res),
    rk: keys.metaRk,
    schema: resourceSchema,
  },
  {
    name: "catalog entry",
    table: table.directory,
    pk: keys.directoryPk(env),
    rk: keys.catalogRk(res),
    schema: resourceSchema,
  },
  {
    name: "grant",
    table: table.resources,
    pk: keys.resourcePk(env, res),
    rk: keys.grantRk(list, "contributor"),
    schema: grantSchema,
    bounds: {
      connectionChoices: {
        max: 100,
        why: "one per embedded connection of the flow (share refuses others), and a flow has at most 100",
      },
    },
  },
  {
    name: "invitation",
    table: table.resources,
    pk: keys.resourcePk(env, res),
    rk: keys.invitationRk(id("inv")),
    schema: invitationSchema,
  },
  {
    name: "recording",
    table: table.resources,
    pk: keys.resourcePk(env, res),
    rk: keys.recordingRk(id("rec")),
    schema: recordingSchema,
  },
  {
    name: "change (resource's log)",
    table: table.resources,
    pk: keys.resourcePk(env, res),
    rk: keys.changePrefix + changeRk,
    schema: changeEntrySchema,
  },
  { name: "change (environment's log)", table: table.changes, pk: env, rk: changeRk, schema: changeEntrySchema },
  {
    name: "index entry",
    table: table.principals,
    pk: keys.principalPk(list),
    rk: keys.indexRk(env, res, throughKey(list)),
    schema: indexEntrySchema,
    bounds: {
      resourceId: { max: 128, why: "a resource id (idSchema)" },
      displayName: { max: 200, why: "the resource's displayName (resourceSchema)" },
    },
  },
  {
    name: "copy",
    table: table.copies,
    pk: id("copy"),
    rk: "copy",
    schema: flowCopySchema,
  },
  {
    name: "reassignment job",
    table: table.reassignments,
    pk: `${env}|${id("from")}|${id("to")}`,
    rk: "job",
    schema: reassignmentJobSchema,
  },
  {
    name: "reassignment item",
    table: table.reassignments,
    pk: `${env}|run|${"r".repeat(64)}`,
    rk: `item|${res}`,
    schema: reassignmentItemSchema,
    bounds: {
      displayName: { max: 200, why: "the resource's displayName (resourceSchema)" },
      connectionsToFix: connectionsOfAFlow,
      "connectionsToFix[].connector": { max: 100, why: "a connection's connector (connectionSchema)" },
    },
  },
  {
    name: "offboarding pointer",
    table: table.offboardings,
    pk: `${env}|user|${user}`,
    rk: "current",
    schema: z.object({ offboardingId: idSchema }),
  },
  {
    name: "offboarding job",
    table: table.offboardings,
    pk: `${env}|run|${id("offboarding")}`,
    rk: "job",
    schema: offboardingJobSchema,
  },
  {
    name: "offboarding item",
    table: table.offboardings,
    pk: `${env}|run|${id("offboarding")}`,
    rk: `item|${res}`,
    schema: offboardingItemSchema,
    bounds: {
      displayName: { max: 200, why: "the resource's displayName (resourceSchema)" },
      connectionsToFix: connectionsOfAFlow,
      "connectionsToFix[].connector": { max: 100, why: "a connection's connector (connectionSchema)" },
    },
  },
  { name: "audit run", table: table.audits, pk: `${env}|${id("audit")}`, rk: "run", schema: auditRunSchema },
  {
    name: "email record",
    table: table.directory,
    pk: env,
    rk: `email|${"o".repeat(64)}`,
    schema: emailRecordSchema,
  },
];

describe("every stored record, at the largest its schema allows, fits one row", () => {
  it.each(storedRows)("$name", ({ table: t, pk, rk, schema, bounds }) => {
    const value = largest(schema, bounds);
    const fields = encodeRow(value);
    expect(() => checkRow(t, pk, rk, fields)).not.toThrow();
    expect(decodeRow(schema, { pk, rk, fields })).toEqual(value);
  });

  it("environment: at its largest, a full data loss prevention policy included, stays one property", () => {
    const value = largest(environmentSchema) as z.infer<typeof environmentSchema>;
    expect(Object.values(value.dlp ?? {}).flat()).toHaveLength(150);
    expect(Object.keys(encodeRow(value))).toEqual(["json"]);
  });

  it("finding chunks: each chunk of the largest findings fits one property", () => {
    const findings = Array.from({ length: 500 }, () => largest(findingSchema) as z.infer<typeof findingSchema>);
    for (const chunk of chunkFindings(findings)) {
      const fields = encodeRow({ findings: chunk });
      expect(Object.keys(fields)).toEqual(["json"]);
      checkRow(table.audits, `${env}|${id("audit")}`, "findings|0000001", fields);
    }
  });

  it("outbox items: a list that would outgrow a property is split over items of the same type", () => {
    // (A transaction holds at most 100 rows, so a change never has more items than the two-digit ids sort.)
    const principals = Array.from({ length: 2_000 }, (_, i) => ({ type: list.type, id: id(i) }));
    const entries = Array.from({ length: 100 }, () => largest(changeEntrySchema) as z.infer<typeof changeEntrySchema>);
    const inputs: OutboxItemInput[] = [
      { type: "index", envId: env, resourceId: res, principals },

      { type: "log", envId: env, entries },
      { type: "catalog", envId: env, resourceId: res },
    ];
    const items = outboxItems({ newId: () => "0".repeat(19) }, inputs);
    for (const item of items) {
      expect(encodedLength(item)).toBeLessThanOrEqual(maxJsonChars);
      checkRow(table.resources, keys.resourcePk(env, res), keys.outboxRk(item.id), encodeRow(item));
    }
    const all = (type: string) => items.filter((i) => i.type === type);
    expect(all("index").flatMap((i) => ("principals" in i ? i.principals : []))).toEqual(principals);
    expect(all("log").flatMap((i) => ("entries" in i ? i.entries : []))).toEqual(entries);
    expect(items.map((i) => i.id)).toEqual([...items.map((i) => i.id)].sort());
  });

  it("search rows: the longest names keep a key under 512 characters that still starts with any search's prefix", () => {
    for (const field of ["name", "group"] as const) {
      for (const name of ["/".repeat(200), "İ".repeat(200), "\ud83d\ude00".repeat(100), `${"a".repeat(199)}/`]) {
        const rk = keys.searchRk(field, name, user);
        expect(() => checkKeys(table.directory, keys.tenantPk, rk)).not.toThrow();
        expect(rk.endsWith(`|${user}`)).toBe(true);
        const query = name.slice(0, directoryQuery.shape.search.maxLength ?? 0);
        expect(rk.startsWith(keys.searchPrefix(field, query))).toBe(true);
      }
    }
    const email = largest(tenantUserSchema) as z.infer<typeof tenantUserSchema>;
    checkKeys(table.directory, keys.tenantPk, keys.searchRk("email", email.email, user));
  });

  it("rows longer than one property are read back whole, and compared whole", () => {
    // `{"text":"` takes 9 characters: the emoji's first half is the last character the first part could hold.
    const value = { text: `${"x".repeat(tableLimits.maxStringChars - 10)}\ud83d\ude00${"y".repeat(40_000)}`, n: 1 };
    const fields = encodeRow(value);
    expect(Object.keys(fields)).toEqual(["json", "json1", "json2"]);
    for (const part of Object.values(fields)) expect(String(part).length).toBeLessThanOrEqual(32_768);
    // The emoji straddles the first cut: the cut moves before it rather than split the pair.
    expect(String(fields.json).length).toBe(tableLimits.maxStringChars - 1);
    expect(decodeRow(z.object({ text: z.string(), n: z.number() }), { pk: "p", rk: "r", fields })).toEqual(value);
    expect(sameRecord(fields, encodeRow(value))).toBe(true);
    expect(sameRecord(fields, encodeRow({ ...value, n: 2 }))).toBe(false);
    expect(sameRecord(encodeRow({ a: 1 }), { json: '{"a":1}' })).toBe(true);
  });

  it("groups: members are rows of their own; a member's two rows and its tenant row fit with the longest ids", () => {
    const g = id(1);
    const u = id(2);
    checkRow(table.directory, keys.memberBucketPk(env, u), keys.groupMemberRk(g, u), encodeRow({ userId: u }));
    checkRow(
      table.directory,
      keys.memberBucketPk(env, u),
      keys.userGroupRk(u, g),
      encodeRow({ type: "sharePointList", id: g }),
    );
    checkRow(table.directory, keys.tenantUserPk(u), keys.tenantUserRk(u), { id: u });
  });
});

// -- requests ----------------------------------------------------------------------------------

describe("every field a caller sends is bounded by its schema", () => {
  const requests: [string, z.ZodType, Bounds?][] = [
    ["environmentBody", environmentBody],
    ["userBody", userBody],
    ["membershipBody", membershipBody],
    ["resourceBody", resourceBody],
    [
      "shareBody",
      shareBody,
      {
        connectionChoices: {
          max: 100,
          why: "share refuses choices for connections the flow doesn't have (422 before anything is written)",
        },
      },
    ],
    ["recordingBody", recordingBody],
    ["expiryBody", expiryBody],
    ["checkBody", checkBody],
    ["directoryQuery", directoryQuery],
    ["kindQuery", kindQuery],
    ["sendCopyBody", sendCopyBody],
    ["reassignBody", reassignBody],
    ["changesQuery", changesQuery],
  ];
  it.each(requests)("%s", (_, schema, bounds) => {
    const json = JSON.stringify(z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }));
    // A time a caller sends would need a maxLength: zod's date-time allows any number of fraction digits.
    expect(json).not.toContain('"format":"date-time"');
    expect(() => largest(schema, bounds)).not.toThrow();
  });
});

// -- the largest requests, through the use cases, on the fake (which enforces every limit) ------

describe("the largest requests the API accepts are stored within the limits", () => {
  it("environment, people, a flow with 100 connections, the largest shares, copies, a rename, a reassignment and a delete", async () => {
    const { caps, store, logs } = memoryCaps();
    const admin: Caller = { principalId: id("admin"), appRoles: ["Sharing.Admin"] };
    const envId = id("env");
    await putEnvironment(caps, admin, {
      envId,
      ...environmentBody.parse({
        displayName: nasty(200),
        isDefault: true,
        sensitive: true,
        expectedOwnerGroupIds: Array.from({ length: 100 }, (_, i) => id(`g${i}`)),
        maxOwners: 1000,
        sovereignCloud: false,
      }),
    });
    // 320 people: enough grants on one flow for its index and purge items to need several rows.
    const people = Array.from({ length: 320 }, (_, i) => id(`p${i}`));
    for (const [i, userId] of people.entries()) {
      await putUser(caps, admin, {
        userId,
        ...userBody.parse({
          email: `${"e".repeat(64)}@${`${i}`.padStart(181, "d")}.example`,
          displayName: i % 2 ? nasty(200) : "/".repeat(200),
          userType: "member",
          enabled: true,
          license: "paid",
        }),
      });
      await putMembership(caps, admin, { envId, userId, securityRoles: ["EnvironmentMaker"] });
    }
    const [maker, successor] = [people[0]!, people[1]!];
    const asMaker: Caller = { principalId: maker, appRoles: [] };

    const flowId = id("flow");
    const flow = resourceBody.parse({
      kind: "cloudFlow",
      displayName: nasty(200),
      description: nasty(2000),
      creatorId: maker,
      solutionAware: true,
      triggerKind: "instant",
      connections: Array.from({ length: 100 }, (_, i) => ({
        id: id(`c${i}`),
        connector: nasty(100),
        ownerId: maker,
        usage: "embedded",
      })),
    });
    await putResource(caps, admin, envId, flowId, flow, undefined);

    const batches = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => people.slice(from + i * 20, from + i * 20 + 20));
    for (const [role, group] of [
      ["runOnly", batches(2, 1)[0]!],
      ["owner", batches(22, 1)[0]!],
    ] as const) {
      await share(
        caps,
        admin,
        envId,
        flowId,
        shareBody.parse({
          role,
          principals: group.map((p) => ({ type: "user", id: p })),
          message: nasty(2000),
          ...(role === "runOnly"
            ? { connectionChoices: Object.fromEntries(flow.connections!.map((c) => [c.id, "invoker"])) }
            : {}),
        }),
      );
    }
    for (const group of batches(42, 14)) {
      await share(caps, admin, envId, flowId, {
        role: "runOnly",
        principals: group.map((p) => ({ type: "user", id: p })),
        sendInvitation: false,
      });
    }

    await sendCopy(
      caps,
      asMaker,
      envId,
      flowId,
      sendCopyBody.parse({ recipientIds: people.slice(300, 320), displayName: nasty(200), description: nasty(2000) }),
    );
    await putResource(caps, asMaker, envId, flowId, { ...flow, displayName: `${nasty(199)}x` }, undefined);

    const processId = id("task");
    await putResource(
      caps,
      admin,
      envId,
      processId,
      resourceBody.parse({ kind: "taskMining", displayName: nasty(200), description: nasty(2000), creatorId: maker }),
      undefined,
    );
    await putRecording(caps, asMaker, envId, processId, id("rec"), recordingBody.parse({ label: nasty(200) }).label);

    await reassign(caps, admin, envId, reassignBody.parse({ fromUserId: maker, toUserId: successor }));
    await deleteResource(caps, { principalId: successor, appRoles: [] }, envId, flowId);
    await sweepOutbox(caps);

    expect(logs.filter((l) => /storage limit|failed/.test(l))).toEqual([]);
    const rows = await queryAll(store, table.resources, keys.resourcePk(envId, flowId), [{ all: true }]);
    expect(rows).toEqual([]);
    const index = await queryAll(
      store,
      tableNames("t").principals,
      keys.principalPk({ type: "user", id: people[50]! }),
      [{ prefix: keys.indexPrefix(envId) }],
    );
    expect(index).toEqual([]);
    expect(store.requests).toBeGreaterThan(0);
  }, 60_000);

  it("the largest share transaction stays under the transaction limits, with room to spare", () => {
    // One share of a flow with 20 principals: its meta row and each grant and invitation at their
    // schemas' largest; the change entries as share writes them (a change id from `newId()`, and
    // the longer template, "granted <role> on <kind> <displayName>").
    const pk = keys.resourcePk(env, res);
    const row = (schema: z.ZodType, bounds?: Bounds): Row["fields"] => encodeRow(largest(schema, bounds));
    const entry = (i: number) =>
      changeEntrySchema.parse({
        ...(largest(changeEntrySchema) as object),
        changeId: `${i}`.padStart(19, "0"),
        detail: `granted runOnly on processMining ${nasty(200)}`,
      });
    const entries = Array.from({ length: 40 }, (_, i) => entry(i));
    const outbox = outboxItems({ newId: () => "0".repeat(19) }, [
      {
        type: "index",
        envId: env,
        resourceId: res,
        principals: Array.from({ length: 20 }, (_, i) => ({ type: "user" as const, id: id(i) })),
      },
      { type: "log", envId: env, entries },
      {
        type: "email",
        jobs: Array.from(
          { length: 40 },
          () => largest(emailJobSchema, { at: { max: 35, why: "a grant's time, from toISOString" } }) as EmailJob,
        ),
      },
    ]);
    const ops: WriteOp[] = [
      { op: "replace", rk: keys.metaRk, fields: row(resourceSchema), etag: "*" },
      ...Array.from({ length: 20 }, (_, i): WriteOp => ({
        op: "upsert",
        rk: keys.grantRk({ type: "user", id: id(i) }, "runOnly"),
        fields: row(grantSchema, storedRows.find((r) => r.name === "grant")!.bounds),
      })),
      ...Array.from({ length: 20 }, (_, i): WriteOp => ({
        op: "upsert",
        rk: keys.invitationRk(id(`inv${i}`)),
        fields: row(invitationSchema),
      })),
      ...entries.map((e): WriteOp => ({
        op: "upsert",
        rk: keys.changePrefix + newestFirstKey(new Date(e.at), e.changeId),
        fields: encodeRow(e),
      })),
      ...outbox.map((o): WriteOp => ({ op: "upsert", rk: keys.outboxRk(o.id), fields: encodeRow(o) })),
    ];
    expect(ops.length).toBeLessThanOrEqual(90);
    expect(() => checkTransaction(table.resources, pk, ops)).not.toThrow();
    expect(transactionBytes(pk, ops)).toBeLessThan(tableLimits.maxTransactionBytes / 2);
  });
});

describe("a write that breaks a storage limit, should one escape a use case", () => {
  it("answers 500 without internals and logs the limit, table, keys and property", () => {
    const logs: string[] = [];
    const e = new StorageLimitError(
      "propertyValue",
      "sharingResources",
      { pk: "p".repeat(300), rk: "meta", property: "json" },
      "too long",
    );
    const response = toProblem(e, (m) => void logs.push(m));
    expect(response.status).toBe(500);
    expect(String(response.body)).not.toContain("sharingResources");
    expect(logs).toHaveLength(1);
    expect(logs[0]).toContain("storage limit propertyValue");
    expect(logs[0]).toContain("sharingResources");
    expect(logs[0]).toContain('row "meta"');
    expect(logs[0]).toContain('property "json"');
    expect(logs[0]).toContain("(300 chars)");
  });
});
