import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from "jose";
import { z } from "zod";
import { DomainError, unauthenticated, unavailable } from "../../errors.js";
import { idSchema } from "../../model/records.js";
import type { Caller } from "../../usecases/capabilities.js";
import { devAudience, devIssuer } from "./devToken.js";

export interface AuthSettings {
  AUTH_ISSUER?: string | undefined;
  AUTH_AUDIENCE?: string | undefined;
  AUTH_JWKS_URL?: string | undefined;
  AUTH_DEV_SIGNING_KEY?: string | undefined;
}

const claimsSchema = z.object({
  oid: idSchema.optional(),
  sub: idSchema.optional(),
  roles: z.array(z.string().max(100)).max(50).optional(),
});

/** Allowed clock skew between token issuer and us. */
const clockTolerance = 5;

/**
 * Checks bearer tokens: Entra ID tokens (issuer, audience and keys from settings, RS256), and, only
 * where `AUTH_DEV_SIGNING_KEY` is set, HS256 development tokens. Anything else is a 401.
 */
export function createAuthenticator(
  settings: AuthSettings,
): (authorization: string | null | undefined) => Promise<Caller> {
  const devKey = settings.AUTH_DEV_SIGNING_KEY ? new TextEncoder().encode(settings.AUTH_DEV_SIGNING_KEY) : undefined;
  const jwks: JWTVerifyGetKey | undefined = settings.AUTH_JWKS_URL
    ? createRemoteJWKSet(new URL(settings.AUTH_JWKS_URL))
    : undefined;
  return async (authorization) => {
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(authorization?.trim() ?? "");
    if (!match)
      throw unauthenticated(
        authorization ? "the Authorization header is not a bearer JWT" : "an Authorization: Bearer token is required",
      );
    const token = match[1]!;
    let payload: JWTPayload;
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      // jose throws a plain TypeError for a header that isn't base64url JSON.
      throw unauthenticated("the token's header is not valid");
    }
    try {
      if (alg === "HS256" && devKey) {
        ({ payload } = await jwtVerify(token, devKey, {
          issuer: devIssuer,
          audience: devAudience,
          algorithms: ["HS256"],
          clockTolerance,
        }));
      } else if (jwks && settings.AUTH_ISSUER && settings.AUTH_AUDIENCE && alg !== "HS256" && alg !== "none") {
        ({ payload } = await jwtVerify(token, jwks, {
          issuer: settings.AUTH_ISSUER,
          audience: settings.AUTH_AUDIENCE,
          algorithms: ["RS256"],
          clockTolerance,
        }));
      } else {
        throw unauthenticated(`tokens signed with ${alg ?? "no algorithm"} are not accepted`);
      }
    } catch (e) {
      if (e instanceof DomainError) throw e;
      if (e instanceof joseErrors.JWTExpired) throw unauthenticated("the token has expired");
      if (e instanceof joseErrors.JWTClaimValidationFailed)
        throw unauthenticated(`the token's ${e.claim} claim is not valid`);
      // The identity provider's key endpoint failed (no answer, an error status, not a key set; jose
      // throws the base JOSEError only there): the token may be fine, so not a 401 but a 503.
      if (
        e instanceof joseErrors.JWKSTimeout ||
        e instanceof joseErrors.JWKSInvalid ||
        !(e instanceof joseErrors.JOSEError) ||
        e.constructor === joseErrors.JOSEError
      ) {
        throw unavailable("the identity provider's signing keys could not be fetched", e);
      }
      throw unauthenticated("the token's signature or format is not valid");
    }
    const claims = claimsSchema.safeParse(payload);
    const principalId = claims.success ? (claims.data.oid ?? claims.data.sub) : undefined;
    if (!claims.success || !principalId) throw unauthenticated("the token names no valid principal (oid or sub)");
    return { principalId, appRoles: claims.data.roles ?? [] };
  };
}
