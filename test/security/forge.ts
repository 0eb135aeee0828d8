/**
 * Tokens an attacker would try, built by hand or with jose. Each one must get a 401: the host's
 * authenticator (shared/adapters/http/auth.ts) may accept only HS256 tokens signed with the
 * development key (where it is set) and RS256 tokens from the configured JWKS, with the right
 * issuer and audience, in their validity window, naming a principal.
 */
import { createHmac, randomBytes } from "node:crypto";
import { SignJWT, type JWTPayload } from "jose";
import { devAudience, devIssuer } from "../../shared/adapters/http/devToken.js";

const b64u = (value: unknown): string =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

/** Claims a valid development token carries, for `sub`. */
export function devClaims(sub: string, extra: JWTPayload = {}): JWTPayload {
  return { oid: sub, sub, iss: devIssuer, aud: devAudience, iat: now(), nbf: now(), exp: now() + 3600, ...extra };
}

/**
 * HS256 over `claims` with `key`; `header` adds to the protected header. Signed by hand, because
 * jose (rightly) refuses to sign some of the headers an attacker sends, such as unknown `crit`.
 */
export async function hs256(
  key: string | Uint8Array,
  claims: JWTPayload,
  header: Record<string, unknown> = {},
): Promise<string> {
  const input = `${b64u({ typ: "JWT", ...header, alg: "HS256" })}.${b64u(claims)}`;
  return `${input}.${createHmac("sha256", typeof key === "string" ? Buffer.from(key, "utf8") : key)
    .update(input)
    .digest("base64url")}`;
}

/** An unsecured JWT (`alg: none`, RFC 7519 §6): header and claims, empty signature. */
export function unsecured(claims: JWTPayload, alg = "none"): string {
  return `${b64u({ alg, typ: "JWT" })}.${b64u(claims)}.`;
}

/** A token with a validly formed but unverifiable signature segment. */
export function withSignature(
  header: Record<string, unknown>,
  claims: JWTPayload,
  signature = randomBytes(32).toString("base64url"),
): string {
  return `${b64u(header)}.${b64u(claims)}.${signature}`;
}

/**
 * The attacks that need only the development key's issuer and audience (and, for "a valid token
 * with something wrong", the key itself). Keyed by a short name for test titles.
 */
export async function devTokenAttacks(
  devKey: string,
  sub: string,
  extra: JWTPayload = {},
): Promise<Record<string, string>> {
  const wrongKey = randomBytes(32).toString("base64url");
  const big = "A".repeat(8 * 1024);
  const [validHeader, , validSignature] = (await hs256(devKey, devClaims(sub, extra))).split(".");
  return {
    "alg none": unsecured(devClaims(sub, extra)),
    "alg None (case variant)": unsecured(devClaims(sub, extra), "None"),
    "alg none with a valid dev signature appended": `${unsecured(devClaims(sub, extra))}${validSignature}`,
    "signed with another key": await hs256(wrongKey, devClaims(sub, extra)),
    "signed with an empty key": await hs256(new Uint8Array(32), devClaims(sub, extra)),
    "payload swapped under a valid signature": `${validHeader}.${b64u(devClaims(`${sub}-x`, { roles: ["Sharing.Admin"] }))}.${validSignature}`,
    "wrong audience": await hs256(devKey, devClaims(sub, { ...extra, aud: "urn:someone:else" })),
    "wrong issuer": await hs256(
      devKey,
      devClaims(sub, { ...extra, iss: "https://login.microsoftonline.com/evil/v2.0" }),
    ),
    "no audience": await hs256(devKey, (({ aud: _a, ...c }) => c)(devClaims(sub, extra))),
    "expired an hour ago": await hs256(
      devKey,
      devClaims(sub, { ...extra, iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600 }),
    ),
    "not valid for an hour yet": await hs256(
      devKey,
      devClaims(sub, { ...extra, nbf: now() + 3600, exp: now() + 7200 }),
    ),
    "exp as a string": await hs256(
      devKey,
      devClaims(sub, { ...extra, exp: String(now() + 3600) as unknown as number }),
    ),
    "no oid and no sub": await hs256(devKey, (({ oid: _o, sub: _s, ...c }) => c)(devClaims(sub, extra))),
    "oid that escapes an OData filter": await hs256(
      devKey,
      devClaims(sub, { ...extra, oid: "x' or PartitionKey ne '", sub: "x' or PartitionKey ne '" }),
    ),
    "oid with a key separator": await hs256(
      devKey,
      devClaims(sub, { ...extra, oid: `${sub}|grant|user|x|owner`, sub: `${sub}|grant` }),
    ),
    "oid as a number": await hs256(
      devKey,
      devClaims(sub, { ...extra, oid: 12345 as unknown as string, sub: 12345 as unknown as string }),
    ),
    "roles not a list": await hs256(devKey, devClaims(sub, { ...extra, roles: "Sharing.Admin" })),
    "crit header jose does not understand": await hs256(devKey, devClaims(sub, extra), {
      crit: ["urn:evil"],
      "urn:evil": true,
    }),
    "HS512 with the dev key": await new SignJWT(devClaims(sub, extra))
      .setProtectedHeader({ alg: "HS512" })
      .sign(new TextEncoder().encode(devKey)),
    "garbage segments": "abc.def.ghi",
    "header not JSON": `${b64u("not json")}.${b64u(devClaims(sub, extra))}.${randomBytes(8).toString("base64url")}`,
    "header JSON but not an object": `${b64u([1, 2])}.${b64u(devClaims(sub, extra))}.x`,
    "payload not JSON": `${b64u({ alg: "HS256", typ: "JWT" })}.${b64u("{oops")}.x`,
    "five segments (JWE shape)": "a.b.c.d.e",
    "oversized header (8 KiB)": withSignature({ alg: "HS256", typ: "JWT", pad: big }, devClaims(sub, extra)),
    "kid path traversal": await hs256(wrongKey, devClaims(sub, extra), { kid: "../../../../dev/null" }),
    "jku pointing elsewhere": withSignature(
      { alg: "RS256", jku: "http://127.0.0.1:1/jwks", kid: "x" },
      devClaims(sub, extra),
    ),
  };
}

/** Authorization header values that are not bearer JWTs at all. */
export const badAuthorizationHeaders: Record<string, string> = {
  "empty bearer": "Bearer ",
  "bearer without a space": "Bearertoken",
  "basic credentials": `Basic ${Buffer.from("admin:admin").toString("base64")}`,
  "lower-case scheme and garbage": "bearer not-a-jwt",
  "two tokens": "Bearer a.b.c Bearer d.e.f",
  "latin-1 bytes": "Bearer \u00e9\u00e9.\u00e9.\u00e9",
  // Provisioning secrets (`scimp_{tokenId}_{secret}`) nobody issued: well-formed, short, and hostile ids.
  "made-up provisioning secret": `Bearer scimp_${"0".repeat(19)}_${"A".repeat(43)}`,
  "provisioning secret prefix only": "Bearer scimp_",
  "provisioning secret with a path in its id": `Bearer scimp_..%2F..%2Fx_${"A".repeat(43)}`,
};
