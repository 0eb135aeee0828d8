/**
 * A stand-in for Microsoft Entra ID's key endpoint on loopback: an RS256 key pair made with jose,
 * its public half served as a JWKS, and tokens signed with it. `mode` makes the endpoint fail the
 * ways a real one can (an error status, garbage, no answer).
 */
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";

export type JwksMode = "ok" | "error" | "garbage" | "hang";

export interface EntraStandIn {
  issuer: string;
  audience: string;
  jwksUrl: string;
  kid: string;
  /** The served public key as a JWK, and as SPKI PEM (what an HS/RS confusion attack signs with). */
  publicJwk: JWK;
  publicPem: string;
  /** Signs RS256 with the served key (or `key`), `kid` in the header unless overridden. */
  sign(claims: JWTPayload, options?: { key?: CryptoKey; header?: Record<string, unknown> }): Promise<string>;
  /** Claims of a valid token for `oid`. */
  claims(oid: string, extra?: JWTPayload): JWTPayload;
  /** Another RS256 key pair, not served. */
  otherKey(): Promise<{ privateKey: CryptoKey; publicJwk: JWK }>;
  /** How many times the JWKS was fetched. */
  fetches(): number;
  mode: JwksMode;
  close(): Promise<void>;
}

export async function startEntraStandIn(): Promise<EntraStandIn> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const kid = `kid-${Date.now().toString(36)}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  const publicPem = await exportSPKI(publicKey);
  let fetches = 0;
  const hanging = new Set<ServerResponse>();
  const state: { mode: JwksMode } = { mode: "ok" };

  const server: Server = createServer((req, res) => {
    if (req.url !== "/keys") {
      res.writeHead(404).end();
      return;
    }
    fetches++;
    switch (state.mode) {
      case "ok":
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [publicJwk] }));
        return;
      case "error":
        res.writeHead(500, { "content-type": "text/plain" }).end("upstream broke");
        return;
      case "garbage":
        res.writeHead(200, { "content-type": "application/json" }).end("{not json");
        return;
      case "hang":
        hanging.add(res);
        return;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const issuer = `https://login.microsoftonline.example/${kid}/v2.0`;
  const audience = "api://sharing-tests";
  const now = () => Math.floor(Date.now() / 1000);

  const standIn: EntraStandIn = {
    issuer,
    audience,
    jwksUrl: `http://127.0.0.1:${port}/keys`,
    kid,
    publicJwk,
    publicPem,
    get mode() {
      return state.mode;
    },
    set mode(m: JwksMode) {
      state.mode = m;
      if (m !== "hang") {
        for (const res of hanging) res.destroy();
        hanging.clear();
      }
    },
    claims: (oid, extra = {}) => ({
      oid,
      sub: `pairwise-${oid}`,
      tid: "tenant",
      iss: issuer,
      aud: audience,
      iat: now(),
      nbf: now(),
      exp: now() + 3600,
      ...extra,
    }),
    sign: (claims, options = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ typ: "JWT", kid, ...options.header, alg: "RS256" })
        .sign(options.key ?? privateKey),
    async otherKey() {
      const pair = await generateKeyPair("RS256", { extractable: true });
      return { privateKey: pair.privateKey, publicJwk: { ...(await exportJWK(pair.publicKey)), kid, alg: "RS256" } };
    },
    fetches: () => fetches,
    close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return standIn;
}
