import { z } from "zod";
import { signLinkToken, verifyLinkToken, type LinkKind, type TokenRefusal } from "../links/linkToken.js";
import { idSchema, principalTypeSchema, type PrincipalRef } from "../model/records.js";

export { maxTokenLength, type TokenRefusal } from "../links/linkToken.js";

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

export type TokenCheck = { ok: true; claims: InvitationTokenClaims } | { ok: false; reason: TokenRefusal };

const kind: LinkKind = { issuer: "urn:sharing:invitation", audience: "urn:sharing:invitation", type: "invitation+jwt" };

const payloadSchema = z.object({
  env: idSchema,
  res: idSchema,
  inv: idSchema,
  sub: idSchema,
  pt: principalTypeSchema,
  n: z.string().min(8).max(64),
  exp: z.number().int(),
});

/** Signs a token for one invitation. `key` is the `INVITATION_SIGNING_KEY` setting (at least 32 characters). */
export async function signInvitationToken(
  key: string,
  claims: InvitationTokenClaims,
  now: Date = new Date(),
): Promise<string> {
  const { envId, resourceId, invitationId, principal, nonce } = claims;
  const payload = { env: envId, res: resourceId, inv: invitationId, pt: principal.type, n: nonce };
  return signLinkToken(key, kind, principal.id, payload, claims.expiresAt, now);
}

/** Checks a token (`verifyLinkToken`) and reads the invitation it names. */
export async function verifyInvitationToken(key: string, token: string, now: Date = new Date()): Promise<TokenCheck> {
  const r = await verifyLinkToken(key, kind, token, payloadSchema, now);
  if (!r.ok) return r;
  const p = r.payload;
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
}
