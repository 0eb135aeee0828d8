import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { z } from "zod";
import { idSchema } from "../model/records.js";
import { maxTokenLength, type TokenRefusal } from "../invitations/token.js";

/**
 * Claim tokens: the secret part of `{PUBLIC_BASE_URL}/api/claims/{token}`, made as invitation tokens
 * are (`shared/invitations/token.ts`): an HS256 JWT signed with `INVITATION_SIGNING_KEY`, naming one
 * claim (environment, resource, claim id) and one candidate. The signature only proves we issued it;
 * whether the claim is still open and the candidate may still claim is checked against stored state
 * (`shared/usecases/claims.ts`), so a new claim of the resource kills older links without a deny list.
 * Its own issuer, audience and `typ` keep an invitation token (or an API token) from passing as one.
 */
export interface ClaimTokenClaims {
  envId: string;
  resourceId: string;
  claimId: string;
  userId: string;
  expiresAt: Date;
}

export type ClaimTokenCheck = { ok: true; claims: ClaimTokenClaims } | { ok: false; reason: TokenRefusal };

const issuer = "urn:sharing:claim";
const audience = "urn:sharing:claim";
const tokenType = "claim+jwt";
const compactJws = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const payloadSchema = z.object({ env: idSchema, res: idSchema, clm: idSchema, sub: idSchema, exp: z.number().int() });
const keyBytes = (key: string) => new TextEncoder().encode(key);

export async function signClaimToken(key: string, claims: ClaimTokenClaims, now: Date = new Date()): Promise<string> {
  return new SignJWT({ env: claims.envId, res: claims.resourceId, clm: claims.claimId })
    .setProtectedHeader({ alg: "HS256", typ: tokenType })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject(claims.userId)
    .setIssuedAt(Math.floor(now.getTime() / 1000))
    .setExpirationTime(Math.floor(claims.expiresAt.getTime() / 1000))
    .sign(keyBytes(key));
}

/** As `verifyInvitationToken`: HS256 only, our issuer, audience and type; `expired` only for a good signature. */
export async function verifyClaimToken(key: string, token: string, now: Date = new Date()): Promise<ClaimTokenCheck> {
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
      claims: { envId: p.env, resourceId: p.res, claimId: p.clm, userId: p.sub, expiresAt: new Date(p.exp * 1000) },
    };
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) return { ok: false, reason: "expired" };
    if (e instanceof joseErrors.JOSEError || e instanceof TypeError || e instanceof SyntaxError)
      return { ok: false, reason: "invalid" };
    throw e;
  }
}
