import { TableClient } from "@azure/data-tables";
import { generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keys, tableNames } from "../../shared/store/keys.js";
import { rawClient } from "../fuzz/rawHttp.js";
import { startStack, type Stack } from "../support/stack.js";
import { expectProblem, uid } from "../support/world.js";
import { badAuthorizationHeaders, devClaims, devTokenAttacks, hs256, unsecured, withSignature } from "./forge.js";
import { startEntraStandIn, type EntraStandIn } from "./jwksServer.js";

// Token attacks against the compiled app on the local host: every forged, stale or misdirected
// token is a 401 problem+json, and nothing it asked for is written. Two stacks: one with the
// development key (local and test runs), one configured like Azure (Entra issuer, audience and a
// JWKS on loopback; no development key).

let dev: Stack;
let entra: Stack;
let idp: EntraStandIn;

beforeAll(async () => {
  idp = await startEntraStandIn();
  [dev, entra] = await Promise.all([
    startStack(),
    // An empty setting is an absent one: this stack has no development key at all.
    startStack({
      env: {
        AUTH_DEV_SIGNING_KEY: "",
        AUTH_ISSUER: idp.issuer,
        AUTH_AUDIENCE: idp.audience,
        AUTH_JWKS_URL: idp.jwksUrl,
      },
    }),
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.all([dev?.stop(), entra?.stop()]);
  await idp?.close();
});

const environments = (stack: Stack) =>
  TableClient.fromConnectionString(
    stack.storageConnectionString,
    tableNames(stack.settings.TABLE_PREFIX ?? "sharing").environments,
    { allowInsecureConnection: true },
  );

/** Whether storage holds an environment row for `envId`, read from Azurite directly. */
async function environmentStored(stack: Stack, envId: string): Promise<boolean> {
  try {
    await environments(stack).getEntity(keys.environmentPk, envId);
    return true;
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return false;
    throw e;
  }
}

/** Tries to create an environment with `authorization`; returns the answer and the env id it aimed at. */
async function tryCreate(stack: Stack, authorization: string | undefined) {
  const envId = uid("env");
  const res = await stack.api("PUT", `/api/environments/${envId}`, {
    body: { displayName: "forged" },
    ...(authorization !== undefined ? { headers: { authorization } } : {}),
  });
  return { res, envId };
}

function expect401(res: Awaited<ReturnType<Stack["api"]>>, what: string) {
  expect(res.status, `${what}: ${res.text}`).toBe(401);
  expectProblem(res, 401);
  expect(res.headers.get("www-authenticate"), what).toMatch(/^Bearer /);
}

describe("with the development key (local and test runs)", () => {
  it("a valid development token with Sharing.Admin creates an environment (the control for everything below)", async () => {
    const { res, envId } = await tryCreate(dev, `Bearer ${await dev.token(uid("admin"), ["Sharing.Admin"])}`);
    expect(res.status, res.text).toBeLessThan(300);
    expect(await environmentStored(dev, envId)).toBe(true);
  });

  it("every forged, stale or malformed token is a 401 problem+json, and none of them writes anything", async () => {
    const key = dev.settings.AUTH_DEV_SIGNING_KEY!;
    const attacks = await devTokenAttacks(key, uid("admin"), { roles: ["Sharing.Admin"] });
    const tried = {
      ...Object.fromEntries(Object.entries(attacks).map(([name, t]) => [name, `Bearer ${t}`])),
      ...badAuthorizationHeaders,
      "no header": undefined,
    };
    expect(Object.keys(tried).length).toBeGreaterThanOrEqual(30);
    const results = await Promise.all(
      Object.entries(tried).map(async ([name, header]) => ({ name, ...(await tryCreate(dev, header)) })),
    );
    for (const { name, res } of results) expect401(res, name);
    const written = [];
    for (const { name, envId } of results) if (await environmentStored(dev, envId)) written.push(name);
    expect(written).toEqual([]);
  });

  it("the clock skew allowance is 5 s: a token expired 1 s ago is accepted, 60 s ago or not valid for 60 s is refused", async () => {
    const key = dev.settings.AUTH_DEV_SIGNING_KEY!;
    const now = Math.floor(Date.now() / 1000);
    const sub = uid("skew");
    const justExpired = await hs256(key, devClaims(sub, { iat: now - 100, nbf: now - 100, exp: now - 1 }));
    const actions = (t: string) => dev.api("GET", "/api/actions", { token: t });
    expect((await actions(justExpired)).status).toBe(200);
    expect401(
      await actions(await hs256(key, devClaims(sub, { iat: now - 100, nbf: now - 100, exp: now - 60 }))),
      "expired 60 s ago",
    );
    expect401(await actions(await hs256(key, devClaims(sub, { nbf: now + 60 }))), "not valid for 60 s");
  });

  it("Easy Auth identity headers from a caller are ignored: no bearer, no entry", async () => {
    const principal = Buffer.from(
      JSON.stringify({ auth_typ: "aad", claims: [{ typ: "roles", val: "Sharing.Admin" }], userId: "admin" }),
    ).toString("base64");
    const envId = uid("env");
    const res = await dev.api("PUT", `/api/environments/${envId}`, {
      body: { displayName: "easy auth" },
      headers: {
        "x-ms-client-principal": principal,
        "x-ms-client-principal-id": "admin",
        "x-ms-client-principal-name": "admin@contoso.example",
      },
    });
    expect401(res, "x-ms-client-principal");
    expect(await environmentStored(dev, envId)).toBe(false);
  });

  it("an Authorization header past Node's 16 KiB header limit is refused before any app code (431), and the host keeps serving", async () => {
    const client = rawClient(dev.baseUrl, { maxSockets: 1, timeoutMs: 10_000 });
    try {
      const res = await client.send({
        method: "GET",
        path: "/api/actions",
        headers: {
          authorization: `Bearer ${withSignature({ alg: "HS256", pad: "A".repeat(20 * 1024) }, devClaims("x"))}`,
        },
      });
      expect(res.status).toBe(431);
    } finally {
      client.close();
    }
    expect((await dev.api("GET", "/api/health")).status).toBe(200);
  });
});

describe("configured like Azure: Entra issuer, audience and JWKS, no development key", () => {
  it("a valid RS256 token from the configured issuer is accepted, and an app token with Sharing.Admin may write", async () => {
    const user = await idp.sign(idp.claims(uid("user")));
    expect((await entra.api("GET", "/api/actions", { token: user })).status).toBe(200);
    const app = await idp.sign(idp.claims(uid("app"), { roles: ["Sharing.Admin"] }));
    const { res, envId } = await tryCreate(entra, `Bearer ${app}`);
    expect(res.status, res.text).toBeLessThan(300);
    expect(await environmentStored(entra, envId)).toBe(true);
  });

  it("a provisioning secret works on its environment's SCIM base without any JWT setting, and is a 401 everywhere else", async () => {
    const app = await idp.sign(idp.claims(uid("app"), { roles: ["Sharing.Admin"] }));
    const envId = uid("env");
    const made = await entra.api("PUT", `/api/environments/${envId}`, { token: app, body: { displayName: "scim" } });
    expect(made.status, made.text).toBeLessThan(300);
    const issued = await entra.api("POST", `/api/environments/${envId}/scim/tokens`, { token: app, body: {} });
    expect(issued.status, issued.text).toBe(201);
    const secret = (issued.json as { token: string }).token;
    const users = await entra.api("GET", `/api/environments/${envId}/scim/v2/Users?count=1`, { token: secret });
    expect(users.status, users.text).toBe(200);
    // Not an API credential: refused as any unknown bearer, and nothing written.
    const { res, envId: aimed } = await tryCreate(entra, `Bearer ${secret}`);
    expect401(res, "a provisioning secret on PUT environment");
    expect(await environmentStored(entra, aimed)).toBe(false);
    // The right id with another secret: the stored hash differs.
    const forged = secret.slice(0, -2) + (secret.endsWith("AA") ? "BB" : "AA");
    const refused = await entra.api("GET", `/api/environments/${envId}/scim/v2/Users`, { token: forged });
    expect(refused.status, refused.text).toBe(401);
    expect(refused.headers.get("content-type")).toMatch(/^application\/scim\+json/);
  });

  it("refuses HS256 (dev-signed, signed with the public key: the RS/HS confusion), wrong kid keys, alg none, injected keys and wrong claims", async () => {
    const oid = uid("admin");
    const claims = idp.claims(oid, { roles: ["Sharing.Admin"] });
    const other = await idp.otherKey();
    const attacker = await startEntraStandIn();
    const ps = await generateKeyPair("PS256");
    const now = Math.floor(Date.now() / 1000);
    try {
      const attacks: Record<string, string> = {
        "HS256 signed with the other stack's development key": await hs256(
          dev.settings.AUTH_DEV_SIGNING_KEY!,
          devClaims(oid, { roles: ["Sharing.Admin"] }),
        ),
        "HS256 with the dev issuer and an empty key": await hs256("", devClaims(oid, { roles: ["Sharing.Admin"] })),
        "HS256 signed with the public key as PEM (RS/HS confusion)": await hs256(idp.publicPem, claims, {
          kid: idp.kid,
        }),
        "HS256 signed with the public key as JWK JSON": await hs256(JSON.stringify(idp.publicJwk), claims, {
          kid: idp.kid,
        }),
        "HS256 signed with the public key's modulus": await hs256(
          Buffer.from(String(idp.publicJwk.n), "base64url"),
          claims,
          { kid: idp.kid },
        ),
        "RS256 with the served kid, signed by another key": await idp.sign(claims, { key: other.privateKey }),
        "RS256 with its own key embedded as jwk": await idp.sign(claims, {
          key: other.privateKey,
          header: { jwk: other.publicJwk },
        }),
        "RS256 from a jku the attacker serves": await attacker.sign(
          attacker.claims(oid, { iss: idp.issuer, aud: idp.audience, roles: ["Sharing.Admin"] }),
          { header: { jku: attacker.jwksUrl } },
        ),
        "RS256 with an unknown kid": await idp.sign(claims, {
          key: other.privateKey,
          header: { kid: "not-a-served-kid" },
        }),
        "PS256 (not an accepted algorithm)": await new SignJWT(claims)
          .setProtectedHeader({ alg: "PS256", kid: idp.kid })
          .sign(ps.privateKey),
        "alg none with the served kid": unsecured(claims),
        "wrong audience": await idp.sign({ ...claims, aud: "api://someone-else" }),
        "wrong issuer": await idp.sign({ ...claims, iss: "https://login.microsoftonline.example/other/v2.0" }),
        "the development issuer and audience": await idp.sign({
          ...claims,
          iss: "urn:sharing:dev",
          aud: "urn:sharing:api",
        }),
        "expired an hour ago": await idp.sign({ ...claims, iat: now - 7200, nbf: now - 7200, exp: now - 3600 }),
        "not valid for an hour yet": await idp.sign({ ...claims, nbf: now + 3600, exp: now + 7200 }),
        "no oid and no sub": await idp.sign((({ oid: _o, sub: _s, ...c }) => c)(claims)),
        "an oid that is not an id": await idp.sign({ ...claims, oid: "' or PartitionKey ne '", sub: "a|b" }),
        garbage: "abc.def.ghi",
      };
      const results = await Promise.all(
        Object.entries(attacks).map(async ([name, t]) => ({ name, ...(await tryCreate(entra, `Bearer ${t}`)) })),
      );
      for (const { name, res } of results) expect401(res, name);
      const written = [];
      for (const { name, envId } of results) if (await environmentStored(entra, envId)) written.push(name);
      expect(written).toEqual([]);
      // The host never fetched keys from where a token told it to.
      expect(attacker.fetches()).toBe(0);
    } finally {
      await attacker.close();
    }
  });

  it("when the key endpoint fails (error, garbage, no answer, gone) a valid token gets a quick 503 problem+json, and it recovers", async () => {
    const token = await idp.sign(idp.claims(uid("app"), { roles: ["Sharing.Admin"] }));
    try {
      for (const mode of ["error", "garbage", "hang", "gone"] as const) {
        // A fresh host has no cached keys, so its first RS256 token fetches them.
        idp.mode = mode === "gone" ? "ok" : mode;
        await entra.restartHost(mode === "gone" ? { AUTH_JWKS_URL: "http://127.0.0.1:9/keys" } : {});
        const started = performance.now();
        const res = await entra.api("GET", "/api/actions", { token });
        const ms = performance.now() - started;
        expect(res.status, `${mode}: ${res.text}`).toBe(503);
        expectProblem(res, 503);
        expect(res.headers.get("retry-after")).not.toBeNull();
        // jose gives up on the key endpoint after 5 s; nothing waits longer than that.
        expect(ms, mode).toBeLessThan(8_000);
      }
    } finally {
      idp.mode = "ok";
      await entra.restartHost();
    }
    expect((await entra.api("GET", "/api/actions", { token })).status).toBe(200);
  });
});
