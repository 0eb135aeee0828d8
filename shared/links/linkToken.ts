import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import type { z } from "zod";

/**
 * The signed part of the links people follow from an email (invitations, ownership claims): an
 * HS256 JWT signed with the `INVITATION_SIGNING_KEY` setting, naming what the link is for and whom.
 * Each kind has its own issuer, audience and `typ`, so a token of one kind (or an API bearer token)
 * never passes as another, even under the same key. The signature only proves we issued it; whether
 * it still works is checked against stored state by the use case.
 */
export interface LinkKind {
  issuer: string;
  audience: string;
  type: string;
}

/** Why a token was refused before any stored state was read. */
export type TokenRefusal = "invalid" | "expired";

/** Far more than a real token (≈ 350 characters); anything longer is refused before any crypto. */
export const maxTokenLength = 2048;
const compactJws = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const keyBytes = (key: string) => new TextEncoder().encode(key);

/** Signs a link for `subject`, with `claims` beside the registered ones, valid until `expiresAt`. */
export async function signLinkToken(
  key: string,
  kind: LinkKind,
  subject: string,
  claims: Record<string, string>,
  expiresAt: Date,
  now: Date = new Date(),
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: kind.type })
    .setIssuer(kind.issuer)
    .setAudience(kind.audience)
    .setSubject(subject)
    .setIssuedAt(Math.floor(now.getTime() / 1000))
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
    .sign(keyBytes(key));
}

/**
 * Checks a token's form, signature (HS256 only: `none` and every other algorithm are refused),
 * issuer, audience, type and expiry, then its payload against `payload`. `expired` is reported only
 * for a token whose signature is good, so a forged token can never learn more than `invalid`.
 */
export async function verifyLinkToken<S extends z.ZodType>(
  key: string,
  kind: LinkKind,
  token: string,
  payload: S,
  now: Date = new Date(),
): Promise<{ ok: true; payload: z.infer<S> } | { ok: false; reason: TokenRefusal }> {
  if (token.length > maxTokenLength || !compactJws.test(token)) return { ok: false, reason: "invalid" };
  try {
    const verified = await jwtVerify(token, keyBytes(key), {
      algorithms: ["HS256"],
      issuer: kind.issuer,
      audience: kind.audience,
      typ: kind.type,
      currentDate: now,
      requiredClaims: ["exp", "sub"],
    });
    const parsed = payload.safeParse(verified.payload);
    return parsed.success ? { ok: true, payload: parsed.data } : { ok: false, reason: "invalid" };
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) return { ok: false, reason: "expired" };
    if (e instanceof joseErrors.JOSEError || e instanceof TypeError || e instanceof SyntaxError)
      return { ok: false, reason: "invalid" };
    throw e;
  }
}
