import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/poll.js";
import type { ApiResult, Stack } from "../support/stack.js";
import { startStack } from "../support/stack.js";
import { newWorld } from "../support/world.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

const scimHeaders = { "content-type": "application/scim+json", accept: "application/scim+json" };
const patchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

function expectScimError(r: ApiResult, status: number): void {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get("content-type")).toMatch(/^application\/scim\+json/);
  expect(r.json).toMatchObject({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: String(status) });
}

describe("provisioning secrets: what an admin pastes as Entra's Secret Token", () => {
  it("an admin issues one; Entra provisions with it; it works nowhere else; revoking it ends it at once", async () => {
    const w = await newWorld(stack);
    const other = await newWorld(stack);
    await w.user("admin", { roles: ["SystemAdministrator"] });
    await w.user("viewer", { roles: ["BasicUser"] });

    // A member who is no admin may not issue one; an environment admin may.
    const refused = await w.as("viewer", "POST", "scim/tokens", { description: "Entra" });
    expect(refused.status, refused.text).toBe(403);
    const made = await w.as("admin", "POST", "scim/tokens", { description: "Entra provisioning" });
    expect(made.status, made.text).toBe(201);
    expect(made.headers.get("cache-control")).toBe("no-store");
    const t = made.json as {
      tokenId: string;
      token: string;
      description: string;
      createdAt: string;
      expiresAt: string;
    };
    expect(t.token).toMatch(/^scimp_[0-9a-z]{19}_[A-Za-z0-9_-]{43}$/);
    expect(t.token).toContain(t.tokenId);
    expect(t.description).toBe("Entra provisioning");
    const days = (Date.parse(t.expiresAt) - Date.parse(t.createdAt)) / 86_400_000;
    expect(days).toBe(365);

    // Entra, with the secret as its bearer, on the environment's SCIM base.
    const base = `/api/environments/${w.envId}/scim/v2`;
    const entra = (method: string, path: string, body?: unknown, envBase = base) =>
      stack.api(method, `${envBase}${path}`, {
        token: t.token,
        headers: scimHeaders,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    const userName = `Provisioned.${w.envId}@contoso.example`;
    const none = await entra("GET", `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`);
    expect(none.status, none.text).toBe(200);
    expect((none.json as { totalResults: number }).totalResults).toBe(0);
    const created = await entra("POST", "/Users", { userName, displayName: "Pro Visioned", active: true });
    expect(created.status, created.text).toBe(201);
    const id = (created.json as { id: string }).id;
    const read = await entra("GET", `/Users/${id}`);
    expect(read.status, read.text).toBe(200);
    expect(read.json).toMatchObject({ id, userName, active: true });
    const patched = await entra("PATCH", `/Users/${id}`, {
      schemas: [patchOp],
      Operations: [{ op: "Replace", path: "displayName", value: "Pro Renamed" }],
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.json).toMatchObject({ displayName: "Pro Renamed" });

    // Not a credential anywhere else: a route Sharing.Provisioning apps may call, another environment's SCIM base.
    const groups = await stack.api("GET", `/api/environments/${w.envId}/groups`, { token: t.token });
    expect(groups.status, groups.text).toBe(401);
    expect(groups.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    const user = await stack.api("GET", `/api/users/${id}`, { token: t.token });
    expect(user.status, user.text).toBe(401);
    expectScimError(await entra("GET", "/Users", undefined, `/api/environments/${other.envId}/scim/v2`), 401);
    const mint = await stack.api("POST", `/api/environments/${w.envId}/scim/tokens`, { token: t.token, body: {} });
    expect(mint.status, mint.text).toBe(401);

    // The list shows it, never the secret; so does the change log.
    const listed = await w.as("admin", "GET", "scim/tokens");
    expect(listed.status, listed.text).toBe(200);
    expect(listed.json).toMatchObject({
      items: [{ tokenId: t.tokenId, description: "Entra provisioning", expired: false, expiresAt: t.expiresAt }],
    });
    const secret = t.token.slice(t.token.lastIndexOf("_") + 1);
    expect(listed.text).not.toContain(secret);
    expect(listed.text).not.toMatch(/"hash"/);

    // Revoked: the next call is refused.
    const revoked = await w.as("admin", "DELETE", `scim/tokens/${t.tokenId}`);
    expect(revoked.status, revoked.text).toBe(204);
    expectScimError(await entra("GET", `/Users/${id}`), 401);
    expect((await w.as("admin", "DELETE", `scim/tokens/${t.tokenId}`)).status).toBe(404);
    expect((await w.as("admin", "GET", "scim/tokens")).json).toMatchObject({ items: [] });

    const log = await eventually(
      "the token's change log entries",
      async () => {
        const r = await stack.api("GET", `/api/environments/${w.envId}/changes`, { token: w.adminToken });
        const items = (r.json as { items: { action: string; actorId: string; detail: string }[] }).items;
        return items.some((i) => i.action === "scimToken.revoked") ? r : undefined;
      },
      { timeoutMs: 10_000 },
    );
    const entries = (log.json as { items: { action: string; actorId: string }[] }).items;
    expect(entries.filter((i) => i.action.startsWith("scimToken.")).map((i) => i.action)).toEqual([
      "scimToken.revoked",
      "scimToken.created",
    ]);
    expect(entries.find((i) => i.action === "scimToken.created")?.actorId).toBe(w.id("admin"));
    // Entra's own changes are logged as the token's principal.
    expect(entries.some((i) => i.actorId === `scim-token.${t.tokenId}`)).toBe(true);
    expect(log.text).not.toContain(secret);
  }, 60_000);

  it("answers 400 naming the field for a lifetime past 730 days, and 404 for another environment's admin", async () => {
    const w = await newWorld(stack);
    const other = await newWorld(stack);
    await other.user("admin", { roles: ["SystemAdministrator"] });
    const long = await stack.api("POST", `/api/environments/${w.envId}/scim/tokens`, {
      token: w.adminToken,
      body: { expiresInDays: 731 },
    });
    expect(long.status, long.text).toBe(400);
    expect((long.json as { errors: { field: string }[] }).errors.map((e) => e.field)).toEqual(["body.expiresInDays"]);
    const outsider = await stack.api("POST", `/api/environments/${w.envId}/scim/tokens`, {
      token: await other.token("admin"),
      body: {},
    });
    expect(outsider.status, outsider.text).toBe(404);
  });

  it("is in the OpenAPI document: the token routes with their schemas, the SCIM routes naming the secret as a scheme", async () => {
    const doc = (await stack.api("GET", "/api/openapi.json")).json as {
      paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>;
      components: { securitySchemes: Record<string, unknown> };
    };
    const tokens = doc.paths["/api/environments/{envId}/scim/tokens"]!;
    expect(tokens.post!.responses["201"]).toMatchObject({
      content: { "application/json": { schema: { properties: { token: { type: "string" } } } } },
    });
    expect(tokens.get!.responses["200"]).toMatchObject({
      content: { "application/json": { schema: { properties: { items: { type: "array" } } } } },
    });
    expect(tokens.post!.security).toBeUndefined();
    expect(doc.paths["/api/environments/{envId}/scim/tokens/{tokenId}"]!.delete!.responses).toHaveProperty("204");
    expect(doc.paths["/api/environments/{envId}/scim/v2/Users"]!.post!.security).toEqual([
      { bearer: [] },
      { provisioningSecret: [] },
    ]);
    expect(doc.paths["/api/environments/{envId}/groups"]!.get!.security).toBeUndefined();
    expect(doc.components.securitySchemes).toHaveProperty("provisioningSecret");
  });
});
