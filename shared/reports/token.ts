import { z } from "zod";
import { signLinkToken, verifyLinkToken, type LinkKind, type TokenRefusal } from "../links/linkToken.js";
import { idSchema } from "../model/records.js";

/**
 * Report tokens: the secret part of `{PUBLIC_BASE_URL}/api/reports/{token}` (docs/reports.md), a
 * signed link (`shared/links/linkToken.ts`) naming one audit of one environment. Anyone holding the
 * link reads that audit's report until it expires (`REPORT_TTL_DAYS`): it goes only to the
 * environment's admins, who could read the report through the API anyway. Its own issuer, audience
 * and `typ` keep an invitation or claim token (or an API token) from passing as one.
 */
export interface ReportTokenClaims {
  envId: string;
  auditId: string;
  expiresAt: Date;
}

export type ReportTokenCheck = { ok: true; claims: ReportTokenClaims } | { ok: false; reason: TokenRefusal };

const kind: LinkKind = { issuer: "urn:sharing:report", audience: "urn:sharing:report", type: "report+jwt" };
const payloadSchema = z.object({ env: idSchema, sub: idSchema, exp: z.number().int() });

/** `now` is the token's issue time: the audit's finish time makes a resent email carry the same link. */
export async function signReportToken(key: string, claims: ReportTokenClaims, now: Date = new Date()): Promise<string> {
  return signLinkToken(key, kind, claims.auditId, { env: claims.envId }, claims.expiresAt, now);
}

export async function verifyReportToken(key: string, token: string, now: Date = new Date()): Promise<ReportTokenCheck> {
  const r = await verifyLinkToken(key, kind, token, payloadSchema, now);
  if (!r.ok) return r;
  return {
    ok: true,
    claims: { envId: r.payload.env, auditId: r.payload.sub, expiresAt: new Date(r.payload.exp * 1000) },
  };
}

/** The report link of an audit: valid `ttlDays` from the audit's finish. */
export async function reportLink(
  key: string,
  publicBaseUrl: string,
  audit: { envId: string; auditId: string; finishedAt: string },
  ttlDays: number,
): Promise<string> {
  const issued = new Date(audit.finishedAt);
  const expiresAt = new Date(issued.getTime() + ttlDays * 86_400_000);
  const token = await signReportToken(key, { envId: audit.envId, auditId: audit.auditId, expiresAt }, issued);
  return `${publicBaseUrl.replace(/\/+$/, "")}/api/reports/${encodeURIComponent(token)}`;
}
