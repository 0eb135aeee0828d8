import { z } from "zod";
import { signLinkToken, verifyLinkToken, type LinkKind, type TokenRefusal } from "../links/linkToken.js";
import { idSchema } from "../model/records.js";

/**
 * Claim tokens: the secret part of `{PUBLIC_BASE_URL}/api/claims/{token}`, a signed link
 * (`shared/links/linkToken.ts`) as invitation tokens are, naming one claim (environment, resource,
 * claim id) and one candidate. The signature only proves we issued it;
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

const kind: LinkKind = { issuer: "urn:sharing:claim", audience: "urn:sharing:claim", type: "claim+jwt" };
const payloadSchema = z.object({ env: idSchema, res: idSchema, clm: idSchema, sub: idSchema, exp: z.number().int() });

export async function signClaimToken(key: string, claims: ClaimTokenClaims, now: Date = new Date()): Promise<string> {
  const payload = { env: claims.envId, res: claims.resourceId, clm: claims.claimId };
  return signLinkToken(key, kind, claims.userId, payload, claims.expiresAt, now);
}

/** As `verifyInvitationToken`: the link's checks (`verifyLinkToken`), then the claim and candidate it names. */
export async function verifyClaimToken(key: string, token: string, now: Date = new Date()): Promise<ClaimTokenCheck> {
  const r = await verifyLinkToken(key, kind, token, payloadSchema, now);
  if (!r.ok) return r;
  const p = r.payload;
  return {
    ok: true,
    claims: { envId: p.env, resourceId: p.res, claimId: p.clm, userId: p.sub, expiresAt: new Date(p.exp * 1000) },
  };
}
