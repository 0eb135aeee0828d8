import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { z } from "zod";
import { idSchema, principalTypeSchema, type PrincipalRef } from "../model/records.js";

/**
 * Invitation tokens: the secret part of the link `{PUBLIC_BASE_URL}/api/invitations/{token}`.
 *
 * An HS256 JWT signed with the `INVITATION_SIGNING_KEY` setting. It names one invitation (environment,
 * resource, invitation id), its principal and its nonce, and expires with the invitation. The
 * signature only proves we issued it; whether it still works (the invitation exists, the nonce is the
 * current one, the grant is still there) is checked against stored state by the use case
 * (`shared/usecases/invitations.ts`), so a resend or a revoke kills a token without a deny list.
 *
 * Its own issuer, audience and `typ` keep it from ever being taken for an API bearer token or the
 * other way round, even if someone configured the same key for both.
 */

/** What a token names. */
export interface InvitationTokenClaims {
  envId: string;
  resourceId: string;
  invitationId: string;
  principal: PrincipalRef;
  /** The invitation's nonce when the token was issued; a resend changes it. */
  nonce: string;
  /** When the token stops working: the invitation's `expiresAt`. */
  expiresAt: Date;
}

/** Why a token was refused before any stored state was read. */
export type TokenRefusal = "invalid" | "expired";

export type TokenCheck = { ok: true; claims: InvitationTokenClaims } | { ok: false; reason: TokenRefusal };

const issuer = "urn:sharing:invitation";
const audience = "urn:sharing:invitation";
const tokenType = "invitation+jwt";
/** Far more than a real token (≈ 350 characters); anything longer is refused before any crypto. */
export const maxTokenLength = 2048;
const compactJws = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const payloadSchema = z.object({
  env: idSchema,
  res: idSchema,
  inv: idSchema,
  sub: idSchema,
  pt: principalTypeSchema,
  n: z.string().min(8).max(64),
  exp: z.number().int(),
});

const keyBytes = (key: string) => new TextEncoder().encode(key);

/** Signs a token for one invitation. `key` is the `INVITATION_SIGNING_KEY` setting (at least 32 characters). */
export async function signInvitationToken(
  key: string,
  claims: InvitationTokenClaims,
  now: Date = new Date(),
): Promise<string> {
  return new SignJWT({
    env: claims.envId,
    res: claims.resourceId,
    inv: claims.invitationId,
    pt: claims.principal.type,
    n: claims.nonce,
  })
    .setProtectedHeader({ alg: "HS256", typ: tokenType })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject(claims.principal.id)
    .setIssuedAt(Math.floor(now.getTime() / 1000))
    .setExpirationTime(Math.floor(claims.expiresAt.getTime() / 1000))
    .sign(keyBytes(key));
}

/**
 * Checks a token's form, signature (HS256 only: `none` and every other algorithm are refused),
 * issuer, audience, type and expiry. `expired` is reported only for a token whose signature is
 * good, so a forged token can never learn more than `invalid`.
 */
export async function verifyInvitationToken(key: string, token: string, now: Date = new Date()): Promise<TokenCheck> {
  if (token.length > maxTokenLength || !compactJws.test(token)) return { ok: false, reason: "invalid" };
  try {
    const { payload } = await jwtVerify(token, keyBytes(key), {
      algorithms: ["HS256"],
      issuer,
      audience,
      typ: tokenType,
      currentDate: now,
      requiredClaims: ["exp", "sub"],
    });
    const parsed = payloadSchema.safeParse(payload);
    if (!parsed.success) return { ok: false, reason: "invalid" };
    const p = parsed.data;
    return {
      ok: true,
      claims: {
        envId: p.env,
        resourceId: p.res,
        invitationId: p.inv,
        principal: { type: p.pt, id: p.sub },
        nonce: p.n,
        expiresAt: new Date(p.exp * 1000),
      },
    };
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) return { ok: false, reason: "expired" };
    if (e instanceof joseErrors.JOSEError || e instanceof TypeError || e instanceof SyntaxError)
      return { ok: false, reason: "invalid" };
    throw e;
  }
}
