import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { listUsers as listScimUsers } from "../../shared/usecases/scim/users.js";
import { seedDirectory } from "../support/memoryCaps.js";
import { call, handlerServices, problemOf, seed, type Answer } from "./support.js";

const { caps, token } = handlerServices();
// Imported after the services are in place: registering reads no settings.
const { handler: createToken } = await import("../../functions/scimCreateToken.js");
const { handler: listTokens } = await import("../../functions/scimListTokens.js");
const { handler: revokeToken } = await import("../../functions/scimRevokeToken.js");
const { handler: listUsers } = await import("../../functions/scimListUsers.js");
const { handler: createUser } = await import("../../functions/scimCreateUser.js");
const { handler: listGroups } = await import("../../functions/listGroups.js");

const realClock = caps.clock;
beforeAll(async () => {
  await seed(caps);
  await seedDirectory(caps, "f", [["fadmin", true, ["SystemAdministrator"]]], "contoso.example");
  await seedDirectory(caps, "cap", [], "contoso.example");
});
afterEach(() => {
  caps.clock = realClock;
});

interface Created {
  tokenId: string;
  token: string;
  expiresAt: string;
  createdAt: string;
}
interface Listed {
  items: { tokenId: string; expired: boolean; lastUsedAt?: string }[];
  continuationToken?: string;
}

const issue = async (envId: string, body: unknown = {}, as?: string) =>
  call(createToken, {
    method: "POST",
    path: `environments/${envId}/scim/tokens`,
    params: { envId },
    body,
    token: as ?? (await token("admin")),
  });
const created = async (envId = "e", body: unknown = {}, as?: string) => {
  const a = await issue(envId, body, as);
  expect(a.status, a.text).toBe(201);
  return a.json as Created;
};
const list = async (envId = "e") => {
  const a = await call(listTokens, {
    method: "GET",
    path: `environments/${envId}/scim/tokens`,
    params: { envId },
    token: await token("admin"),
  });
  expect(a.status, a.text).toBe(200);
  return a.json as Listed;
};
/** A SCIM call as Entra makes it, with the secret as its bearer. */
const scimList = (secret: string, envId = "e") =>
  call(listUsers, {
    method: "GET",
    path: `environments/${envId}/scim/v2/Users`,
    params: { envId },
    query: { filter: 'userName eq "nobody@contoso.example"' },
    token: secret,
  });
function scimError(a: Answer, status: number): string {
  expect(a.status, a.text).toBe(status);
  expect(a.headers.get("content-type")).toMatch(/^application\/scim\+json/);
  const body = a.json as { schemas: string[]; status: string; detail: string };
  expect(body.schemas).toEqual(["urn:ietf:params:scim:api:messages:2.0:Error"]);
  expect(body.status).toBe(String(status));
  return body.detail;
}

describe("provisioning secrets on the in-memory store", () => {
  it("works on the environment's SCIM routes only: not on other routes, not on another environment's SCIM base", async () => {
    const t = await created("e", { description: "Entra" });
    expect((await scimList(t.token)).status).toBe(200);
    const made = await call(createUser, {
      method: "POST",
      path: "environments/e/scim/v2/Users",
      params: { envId: "e" },
      headers: { "content-type": "application/scim+json" },
      token: t.token,
      body: { userName: "Sec.Ret@contoso.example", displayName: "Sec Ret" },
    });
    expect(made.status, made.text).toBe(201);

    // Listing groups admits Sharing.Provisioning JWTs; a secret is no JWT there.
    problemOf(
      await call(listGroups, { method: "GET", path: "environments/e/groups", params: { envId: "e" }, token: t.token }),
      401,
    );
    expect(scimError(await scimList(t.token, "f"), 401)).toMatch(/not valid/);
    // Nor may it issue more secrets.
    problemOf(await issue("e", {}, t.token), 401);
  });

  it("is refused once expired (the clock moved), and listed as expired", async () => {
    const t = await created("e", { expiresInDays: 1 });
    expect((await scimList(t.token)).status).toBe(200);
    const expiry = Date.parse(t.expiresAt);
    expect(expiry - Date.parse(t.createdAt)).toBe(24 * 60 * 60 * 1000);
    caps.clock = () => new Date(expiry + 1);
    expect(scimError(await scimList(t.token), 401)).toMatch(/expired/);
    expect((await list()).items.find((i) => i.tokenId === t.tokenId)?.expired).toBe(true);
  });

  it("records lastUsedAt at most once an hour", async () => {
    const t = await created();
    const at = (await list()).items.find((i) => i.tokenId === t.tokenId);
    expect(at?.lastUsedAt).toBeUndefined();
    const start = Date.now();
    caps.clock = () => new Date(start);
    expect((await scimList(t.token)).status).toBe(200);
    const lastUsed = async () => (await caps.repo.scimTokens.get("e", t.tokenId))?.record.lastUsedAt;
    expect(await lastUsed()).toBe(new Date(start).toISOString());
    caps.clock = () => new Date(start + 59 * 60 * 1000);
    expect((await scimList(t.token)).status).toBe(200);
    expect(await lastUsed()).toBe(new Date(start).toISOString());
    caps.clock = () => new Date(start + 61 * 60 * 1000);
    expect((await scimList(t.token)).status).toBe(200);
    expect(await lastUsed()).toBe(new Date(start + 61 * 60 * 1000).toISOString());
  });

  it("is refused from the next call on once revoked; a second revoke is 404", async () => {
    const t = await created();
    expect((await scimList(t.token)).status).toBe(200);
    const revoke = async () =>
      call(revokeToken, {
        method: "DELETE",
        path: `environments/e/scim/tokens/${t.tokenId}`,
        params: { envId: "e", tokenId: t.tokenId },
        token: await token("admin"),
      });
    expect((await revoke()).status).toBe(204);
    scimError(await scimList(t.token), 401);
    problemOf(await revoke(), 404);
    expect((await list()).items.map((i) => i.tokenId)).not.toContain(t.tokenId);
  });

  it("refuses a forged secret for a real token id (the hash differs) and one of an unknown id", async () => {
    const t = await created();
    const forged = t.token.slice(0, -4) + (t.token.endsWith("AAAA") ? "BBBB" : "AAAA");
    scimError(await scimList(forged), 401);
    const unknownId = t.token.replace(t.tokenId, "0".repeat(t.tokenId.length));
    scimError(await scimList(unknownId), 401);
  });

  it("lets only environment admins and Sharing.Admin issue them; checks the body", async () => {
    problemOf(await issue("e", {}, await token("viewer")), 403);
    problemOf(await issue("e", {}, await token("disabledAdmin")), 403);
    problemOf(await issue("e", {}, await token("outsider")), 404);
    problemOf(await issue("e", {}, await token("entra", ["Sharing.Provisioning"])), 403);
    problemOf(await issue("e", {}, await token("fadmin")), 404);
    expect((await issue("e", {}, await token("app", ["Sharing.Admin"]))).status).toBe(201);
    const tooLong = problemOf(await issue("e", { expiresInDays: 731 }), 400);
    expect(tooLong.errors?.map((e) => e.field)).toEqual(["body.expiresInDays"]);
    const extra = problemOf(await issue("e", { token: "mine" }), 400);
    expect(extra.errors?.length).toBeGreaterThan(0);
  });

  it("holds at most 20 tokens an environment, then 409 until one is revoked", async () => {
    const ids: string[] = [];
    const app = await token("app", ["Sharing.Admin"]);
    for (let n = 0; n < 20; n++) ids.push((await created("cap", {}, app)).tokenId);
    const refused = problemOf(await issue("cap", {}, app), 409);
    expect(refused.detail).toMatch(/20 provisioning tokens/);
    const page = await call(listTokens, {
      method: "GET",
      path: "environments/cap/scim/tokens",
      params: { envId: "cap" },
      query: { top: "15" },
      token: await token("admin", ["Sharing.Admin"]),
    });
    const first = page.json as Listed;
    expect(first.items.map((i) => i.tokenId)).toEqual(ids.slice(0, 15));
    const rest = (
      await call(listTokens, {
        method: "GET",
        path: "environments/cap/scim/tokens",
        params: { envId: "cap" },
        query: { top: "15", continuationToken: first.continuationToken! },
        token: await token("admin", ["Sharing.Admin"]),
      })
    ).json as Listed;
    expect(rest.items.map((i) => i.tokenId)).toEqual(ids.slice(15));
    expect(rest.continuationToken).toBeUndefined();
    const revoked = await call(revokeToken, {
      method: "DELETE",
      path: `environments/cap/scim/tokens/${ids[0]}`,
      params: { envId: "cap", tokenId: ids[0]! },
      token: await token("app", ["Sharing.Admin"]),
    });
    expect(revoked.status).toBe(204);
    expect((await issue("cap", {}, await token("app", ["Sharing.Admin"]))).status).toBe(201);
  });

  it("a caller scoped to one environment is refused by the SCIM use cases of another (behind the route's own check)", async () => {
    const scoped = { principalId: "scim-token.x", appRoles: ["Sharing.Provisioning"], envId: "f" };
    const base = { url: "http://localhost:7071/api/environments/e/scim/v2" };
    await expect(listScimUsers(caps, scoped, "e", {}, base)).rejects.toMatchObject({ code: "forbidden" });
    await expect(listScimUsers(caps, { ...scoped, envId: "e" }, "e", {}, base)).resolves.toMatchObject({
      totalResults: expect.any(Number),
    });
  });
});
