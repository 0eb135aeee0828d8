import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { beforeAll, describe, expect, it } from "vitest";
import { openApiDocument } from "../../shared/adapters/http/openapi.js";
import { webhookEventTypes } from "../../shared/model/webhooks.js";
import { signingSecrets } from "../../shared/usecases/webhooks.js";
import { cloudEventOf } from "../../shared/webhooks/events.js";
import { seedDirectory } from "../support/memoryCaps.js";
import { call, handlerServices, problemOf, seed } from "./support.js";

const { caps, token } = handlerServices();
// Imported after the services are in place: registering reads no settings.
const { handler: putWebhook } = await import("../../functions/putWebhook.js");
const { handler: getWebhook } = await import("../../functions/getWebhook.js");
const { handler: listWebhooks } = await import("../../functions/listWebhooks.js");
const { handler: deleteWebhook } = await import("../../functions/deleteWebhook.js");
const { handler: rotate } = await import("../../functions/rotateWebhookSecret.js");
const { handler: changes } = await import("../../functions/changes.js");

beforeAll(async () => {
  await seed(caps);
  await seedDirectory(caps, "full", [], "contoso.example");
});

const body = (over: Record<string, unknown> = {}) => ({
  url: "https://hooks.example.com/in",
  eventTypes: ["sharing.grant.created", "sharing.grant.revoked"],
  ...over,
});
const appToken = () => token("integration-app", ["Sharing.Admin"]);
/** `as` names a user, or is "app" for an app holding Sharing.Admin. */
const put = async (id: string, b: unknown, as = "admin", envId = "e") =>
  call(putWebhook, {
    method: "PUT",
    path: `environments/${envId}/webhooks/${id}`,
    params: { envId, subscriptionId: id },
    body: b,
    token: as === "app" ? await appToken() : await token(as),
  });
const get = async (id: string, as = "admin", envId = "e") =>
  call(getWebhook, {
    method: "GET",
    path: `environments/${envId}/webhooks/${id}`,
    params: { envId, subscriptionId: id },
    token: await token(as),
  });
const del = async (id: string, as = "admin") =>
  call(deleteWebhook, {
    method: "DELETE",
    path: `environments/e/webhooks/${id}`,
    params: { envId: "e", subscriptionId: id },
    token: await token(as),
  });
const rot = async (id: string, as = "admin") =>
  call(rotate, {
    method: "POST",
    path: `environments/e/webhooks/${id}/rotate`,
    params: { envId: "e", subscriptionId: id },
    token: await token(as),
  });
const list = async (query: Record<string, string> = {}, envId = "e") =>
  call(listWebhooks, {
    method: "GET",
    path: `environments/${envId}/webhooks`,
    params: { envId },
    query,
    token: await token("admin"),
  });
async function logOf(envId = "e") {
  const a = await call(changes, {
    method: "GET",
    path: `environments/${envId}/changes`,
    params: { envId },
    token: await token("admin"),
  });
  expect(a.status, a.text).toBe(200);
  return (a.json as { items: { action: string; detail: string }[] }).items;
}

interface Sub {
  subscriptionId: string;
  url: string;
  eventTypes: string[];
  description?: string;
  secret?: string;
  previousSecretExpiresAt?: string;
}

describe("webhook subscriptions on the in-memory store", () => {
  it("creates with a Standard Webhooks secret shown once, then reads, updates and lists without it", async () => {
    const created = await put("crm", body({ description: "CRM sync" }));
    expect(created.status, created.text).toBe(201);
    expect(created.headers.get("cache-control")).toBe("no-store");
    const sub = created.json as Sub;
    expect(sub).toMatchObject({ subscriptionId: "crm", url: "https://hooks.example.com/in", description: "CRM sync" });
    expect(sub.secret).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    expect(Buffer.from(sub.secret!.slice("whsec_".length), "base64").length).toBeGreaterThanOrEqual(24);

    const read = await get("crm");
    expect(read.status).toBe(200);
    expect(read.json).not.toHaveProperty("secret");
    expect(read.text).not.toContain(sub.secret!.slice(6));
    expect(read.json).toMatchObject({ eventTypes: ["sharing.grant.created", "sharing.grant.revoked"] });

    // The same settings again change nothing; other settings replace them and keep the secret.
    const same = await put("crm", body({ description: "CRM sync" }));
    expect(same.status).toBe(200);
    expect(same.json).not.toHaveProperty("secret");
    const changed = await put("crm", body({ eventTypes: ["sharing.copy.sent"] }));
    expect(changed.status, changed.text).toBe(200);
    expect(changed.json).toMatchObject({ eventTypes: ["sharing.copy.sent"] });
    expect(changed.json).not.toHaveProperty("description");
    const stored = await caps.repo.webhooks.get("e", "crm");
    expect(stored?.record.secret).toBe(sub.secret);

    const log = await logOf();
    const ours = log.filter((e) => e.action.startsWith("webhook.") && e.detail.includes("webhook crm"));
    expect(ours.map((e) => e.action).sort()).toEqual(["webhook.created", "webhook.updated"]);
    for (const e of ours) expect(e.detail).not.toContain(sub.secret!.slice(6));
  });

  it("lists a page at a time in id order", async () => {
    for (const id of ["list-a", "list-b", "list-c"]) expect((await put(id, body())).status).toBe(201);
    const first = await list({ top: "2" });
    expect(first.status, first.text).toBe(200);
    const p1 = first.json as { items: Sub[]; continuationToken?: string };
    expect(p1.items).toHaveLength(2);
    expect(p1.continuationToken).toBeDefined();
    const rest = await list({ top: "100", continuationToken: p1.continuationToken! });
    const p2 = rest.json as { items: Sub[]; continuationToken?: string };
    const ids = [...p1.items, ...p2.items].map((s) => s.subscriptionId);
    expect(ids).toEqual([...ids].sort());
    expect(ids).toEqual(expect.arrayContaining(["list-a", "list-b", "list-c"]));
    for (const s of [...p1.items, ...p2.items]) expect(s).not.toHaveProperty("secret");
  });

  it("deletes, logs it, and answers 404 for it afterwards", async () => {
    expect((await put("gone", body())).status).toBe(201);
    const d = await del("gone");
    expect(d.status, d.text).toBe(204);
    expect(problemOf(await get("gone"), 404).detail).toMatch(/webhook subscription gone was not found/);
    expect(problemOf(await del("gone"), 404).detail).toMatch(/gone/);
    expect((await logOf()).some((e) => e.action === "webhook.deleted" && e.detail.includes("webhook gone"))).toBe(true);
  });

  it("rotates: a new secret shown once, the old one still signing for 24 hours", async () => {
    const created = (await put("rot", body())).json as Sub;
    const before = Date.now();
    const r = await rot("rot");
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get("cache-control")).toBe("no-store");
    const rotated = r.json as Sub;
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(created.secret);
    const until = Date.parse(rotated.previousSecretExpiresAt!);
    expect(until - before).toBeGreaterThanOrEqual(24 * 3600_000 - 1000);
    expect(until - before).toBeLessThanOrEqual(24 * 3600_000 + 60_000);

    const stored = (await caps.repo.webhooks.get("e", "rot"))!.record;
    expect(signingSecrets(stored, new Date())).toEqual([rotated.secret, created.secret]);
    expect(signingSecrets(stored, new Date(until + 1))).toEqual([rotated.secret]);
    expect((await get("rot")).json).toMatchObject({ previousSecretExpiresAt: rotated.previousSecretExpiresAt });
    const log = (await logOf()).filter((e) => e.action === "webhook.rotated" && e.detail.includes("webhook rot"));
    expect(log).toHaveLength(1);
    expect(log[0]!.detail).not.toContain(created.secret!.slice(6));
    expect(log[0]!.detail).not.toContain(rotated.secret!.slice(6));
    expect(problemOf(await rot("never-made"), 404).detail).toMatch(/never-made/);
  });

  const refusals: [what: string, body: unknown, field: string, message: RegExp][] = [
    ["a non-https URL", body({ url: "http://hooks.example.com/in" }), "body.url", /must use https/],
    [
      "a host in a private range",
      body({ url: "https://intranet.example.com/" }),
      "body.url",
      /10\.20\.30\.40, a private/,
    ],
    ["the metadata address", body({ url: "https://169.254.169.254/latest" }), "body.url", /linkLocal/],
    ["a name that resolves to it", body({ url: "https://metadata.example.com/" }), "body.url", /169\.254\.169\.254/],
    ["an IPv4-mapped private address", body({ url: "https://[::ffff:192.168.1.1]/" }), "body.url", /private/],
    ["an unresolvable host", body({ url: "https://nowhere.example.com/" }), "body.url", /does not resolve/],
    ["no URL", { eventTypes: ["sharing.copy.sent"] }, "body.url", /./],
    [
      "an unknown event type",
      body({ eventTypes: ["sharing.grant.created", "sharing.nope"] }),
      "body.eventTypes[1]",
      /./,
    ],
    ["no event type", body({ eventTypes: [] }), "body.eventTypes", /./],
    [
      "an event type twice",
      body({ eventTypes: ["sharing.copy.sent", "sharing.copy.sent"] }),
      "body.eventTypes",
      /twice/,
    ],
    ["a field the contract lacks", body({ secret: "whsec_mine" }), "body", /./],
  ];
  it.each(refusals.map(([what, b, field, message]) => [what, field, b, message] as const))(
    "refuses %s with a 400 naming %s",
    async (_what, field, b, message) => {
      const a = await put("bad", b);
      const p = problemOf(a, 400);
      const named = p.errors?.find((e) => e.field === field);
      expect(named, JSON.stringify(p.errors)).toBeDefined();
      expect(named!.message).toMatch(message);
      expect(await caps.repo.webhooks.get("e", "bad")).toBeUndefined();
    },
  );

  it("accepts every event type of the contract", async () => {
    const a = await put("all-types", body({ eventTypes: [...webhookEventTypes] }));
    expect(a.status, a.text).toBe(201);
    expect((a.json as Sub).eventTypes).toHaveLength(webhookEventTypes.length);
  });

  it("lets only environment admins and Sharing.Admin apps in: 403 for members, 404 for outsiders", async () => {
    for (const who of ["maker", "viewer", "disabledAdmin"]) {
      expect(problemOf(await put("x", body(), who), 403).detail).toMatch(/SystemAdministrator/);
      problemOf(await get("crm", who), 403);
      problemOf(await del("crm", who), 403);
      problemOf(await rot("crm", who), 403);
    }
    problemOf(await put("x", body(), "outsider"), 404);
    problemOf(await get("crm", "outsider"), 404);
    problemOf(await put("x", body(), "admin", "no-such-env"), 404);
    const app = await put("by-app", body(), "app");
    expect(app.status, app.text).toBe(201);
    // The guard runs after the gate: an outsider learns nothing of what a URL resolves to.
    problemOf(await put("x", body({ url: "https://intranet.example.com/" }), "outsider"), 404);
  });

  it("holds at most 10 subscriptions an environment (409 beyond), and updates still pass", async () => {
    for (let i = 0; i < 10; i++) expect((await put(`s${i}`, body(), "app", "full")).status).toBe(201);
    expect(problemOf(await put("one-more", body(), "app", "full"), 409).detail).toMatch(
      /already has 10 webhook subscriptions/,
    );
    const update = await put("s3", body({ description: "still fine" }), "app", "full");
    expect(update.status, update.text).toBe(200);
  });
});

describe("the OpenAPI document's webhooks", () => {
  // ajv-formats is CommonJS with a default export; under NodeNext the function sits on `.default`.
  const addFormats = addFormatsModule.default;

  it("describe every event type, with a body schema the events we build obey", () => {
    const doc = openApiDocument() as {
      webhooks: Record<string, { post: { requestBody: { content: Record<string, { schema: object }> } } }>;
    };
    expect(Object.keys(doc.webhooks).sort()).toEqual([...webhookEventTypes, "sharing.webhook.test"].sort());
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const grantCreated = ajv.compile(
      doc.webhooks["sharing.grant.created"]!.post.requestBody.content["application/json"]!.schema,
    );
    const event = cloudEventOf("e", {
      changeId: "c1",
      at: new Date().toISOString(),
      actorId: "maker",
      action: "grant",
      resourceId: "p1",
      principal: { type: "user", id: "viewer" },
      role: "viewer",
      detail: "shared",
    });
    expect(grantCreated(JSON.parse(JSON.stringify(event))), JSON.stringify(grantCreated.errors)).toBe(true);
    expect(grantCreated({ ...event, type: "sharing.grant.revoked" })).toBe(false);
    expect(grantCreated({ ...event, specversion: "0.3" })).toBe(false);
  });
});
