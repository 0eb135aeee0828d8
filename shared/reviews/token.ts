import { z } from "zod";
import { signLinkToken, verifyLinkToken, type LinkKind, type TokenRefusal } from "../links/linkToken.js";
import { idSchema } from "../model/records.js";
import { reviewerKeySchema, type ReviewLink } from "../model/reviews.js";

/**
 * Reviewer links: the secret part of `{PUBLIC_BASE_URL}/api/review-pages/{token}`, a signed link
 * (`shared/links/linkToken.ts`) naming one instance, one reviewer key and the person it was sent to
 * (the subject), expiring when the instance ends. The signature only proves we issued it; whether
 * the instance is still open and the person may still decide under the key is checked against stored
 * state by the use case. Its own issuer, audience and `typ` keep an invitation or claim token (or an
 * API token) from passing as one.
 */
export interface ReviewTokenClaims extends ReviewLink {
  userId: string;
  expiresAt: Date;
}

export type ReviewTokenCheck = { ok: true; claims: ReviewTokenClaims } | { ok: false; reason: TokenRefusal };

const kind: LinkKind = { issuer: "urn:sharing:review", audience: "urn:sharing:review", type: "review+jwt" };
const payloadSchema = z.object({
  env: idSchema,
  review: idSchema,
  instance: idSchema,
  reviewer: reviewerKeySchema,
  sub: idSchema,
  exp: z.number().int(),
});

export async function signReviewToken(key: string, claims: ReviewTokenClaims, now: Date = new Date()): Promise<string> {
  const payload = { env: claims.env, review: claims.review, instance: claims.instance, reviewer: claims.reviewer };
  return signLinkToken(key, kind, claims.userId, payload, claims.expiresAt, now);
}

/** The link's checks (`verifyLinkToken`), then the instance, reviewer key and person it names. */
export async function verifyReviewToken(key: string, token: string, now: Date = new Date()): Promise<ReviewTokenCheck> {
  const r = await verifyLinkToken(key, kind, token, payloadSchema, now);
  if (!r.ok) return r;
  const p = r.payload;
  return {
    ok: true,
    claims: {
      env: p.env,
      review: p.review,
      instance: p.instance,
      reviewer: p.reviewer,
      userId: p.sub,
      expiresAt: new Date(p.exp * 1000),
    },
  };
}
