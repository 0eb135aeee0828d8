import { SignJWT } from "jose";

/** Issuer and audience of development tokens; accepted only where `AUTH_DEV_SIGNING_KEY` is set. */
export const devIssuer = "urn:sharing:dev";
export const devAudience = "urn:sharing:api";

export interface DevTokenClaims {
  sub: string;
  /** App roles, e.g. `Sharing.Admin`; a token with roles and no user is an app-only token. */
  roles?: string[];
  name?: string;
  expiresInSeconds?: number;
}

/** Signs an HS256 development token with the `AUTH_DEV_SIGNING_KEY` setting's key. */
export async function signDevToken(key: string, claims: DevTokenClaims): Promise<string> {
  const jwt = new SignJWT({
    oid: claims.sub,
    ...(claims.roles && claims.roles.length > 0 ? { roles: claims.roles } : {}),
    ...(claims.name ? { name: claims.name } : {}),
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuer(devIssuer)
    .setAudience(devAudience)
    .setIssuedAt()
    .setNotBefore("0s")
    .setExpirationTime(`${claims.expiresInSeconds ?? 8 * 3600}s`);
  return jwt.sign(new TextEncoder().encode(key));
}
