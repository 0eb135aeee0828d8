import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Cross-site request forgery on the reviewer's page (`/api/review-pages/{token}`): a double-submit
 * token. The page's GET sets a random cookie (HttpOnly, SameSite=Strict, on the pages' path only)
 * and the form carries an HMAC of that cookie and the link token, keyed with
 * INVITATION_SIGNING_KEY. A POST must carry both, and they must match: another site can make a
 * browser post the form, but can neither read the field nor set the cookie (SameSite=Strict also
 * keeps the browser from sending it from there). An `Origin` header that is present and not ours is
 * refused too, as a second, independent check.
 */

export const csrfCookieName = "review-csrf";
/** The cookie's path: the reviewer pages only, so no other route ever receives it. */
export const csrfCookiePath = "/api/review-pages/";

const cookieValuePattern = /^[A-Za-z0-9_-]{43}$/;
const fieldPattern = /^[A-Za-z0-9_-]{43}$/;

/** A new cookie value: 256 random bits, base64url (43 characters). */
export function newCsrfCookieValue(): string {
  return randomBytes(32).toString("base64url");
}

/** The cookie value in a `Cookie` request header, when there is a well-formed one. */
export function csrfCookieOf(cookieHeader: string | null): string | undefined {
  if (!cookieHeader || cookieHeader.length > 8192) return undefined;
  for (const part of cookieHeader.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== csrfCookieName) continue;
    const value = part.slice(eq + 1).trim();
    if (cookieValuePattern.test(value)) return value;
  }
  return undefined;
}

/** The `Set-Cookie` value for the page's GET; `Secure` when the API is reached over https. */
export function csrfSetCookie(value: string, publicBaseUrl: string): string {
  const secure = new URL(publicBaseUrl).protocol === "https:" ? "; Secure" : "";
  return `${csrfCookieName}=${value}; Path=${csrfCookiePath}; HttpOnly; SameSite=Strict${secure}`;
}

/** The form's hidden field: binds the cookie to this one link, so a field from another link does not pass. */
export function csrfField(signingKey: string, cookieValue: string, linkToken: string): string {
  return createHmac("sha256", signingKey).update(`review-page-csrf\n${cookieValue}\n${linkToken}`).digest("base64url");
}

export type CsrfRefusal = "origin" | "noCookie" | "noField" | "mismatch";

export interface CsrfInput {
  signingKey: string;
  publicBaseUrl: string;
  linkToken: string;
  /** The request's `Cookie` header. */
  cookieHeader: string | null;
  /** The request's `Origin` header. */
  origin: string | null;
  /** The form's `csrf` field. */
  field: string | undefined;
}

/** Whether a POST may be trusted to come from the page: undefined when it may, else why not. */
export function csrfRefusal(input: CsrfInput): CsrfRefusal | undefined {
  // Browsers send `Origin: null` from opaque origins (sandboxed frames, some redirects): not ours either.
  if (input.origin !== null && input.origin !== new URL(input.publicBaseUrl).origin) return "origin";
  const cookie = csrfCookieOf(input.cookieHeader);
  if (cookie === undefined) return "noCookie";
  if (input.field === undefined || !fieldPattern.test(input.field)) return "noField";
  const expected = Buffer.from(csrfField(input.signingKey, cookie, input.linkToken));
  const given = Buffer.from(input.field);
  return expected.length === given.length && timingSafeEqual(expected, given) ? undefined : "mismatch";
}
