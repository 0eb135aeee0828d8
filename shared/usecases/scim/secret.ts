import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Provisioning secrets: the long-lived bearer an environment's SCIM client (Entra's provisioning
 * service, whose Secret Token is never renewed) sends as `Authorization: Bearer <token>`.
 *
 * `scimp_{tokenId}_{secret}`: a fixed prefix secret scanners can match, the id of the stored row (so
 * checking one is a single point read), and 32 random bytes from `node:crypto` as base64url. Only
 * the SHA-256 of the secret is stored: with 256 bits of entropy nothing can be guessed, so a slow
 * password hash would only add latency to every SCIM call.
 */
export const provisioningSecretPrefix = "scimp_";

/** Token ids are `sortableId`s: 19 characters of `[0-9a-z]`, never `_`, so the format splits unambiguously. */
const format = /^scimp_([0-9a-z]{19})_([A-Za-z0-9_-]{43})$/;

/** The random part, in bytes (256 bits). */
const secretBytes = 32;

export interface IssuedSecret {
  /** The whole bearer, shown once to the admin who created it. */
  token: string;
  /** What is stored: SHA-256 of the random part, hex. */
  hash: string;
}

export function issueProvisioningSecret(tokenId: string): IssuedSecret {
  const secret = randomBytes(secretBytes).toString("base64url");
  const token = `${provisioningSecretPrefix}${tokenId}_${secret}`;
  // A token id that doesn't fit the format would issue a secret no one could use: fail loudly here.
  if (!format.test(token)) throw new Error(`token id ${tokenId} does not fit the provisioning secret format`);
  return { token, hash: hashSecret(secret) };
}

/** Whether an Authorization header carries a provisioning secret (by its prefix), rather than a JWT. */
export function isProvisioningSecretHeader(authorization: string | null | undefined): boolean {
  return /^Bearer scimp_/.test(authorization?.trim() ?? "");
}

/** The token id and random part of a bearer, or undefined when it is not a well-formed provisioning secret. */
export function parseProvisioningSecret(
  authorization: string | null | undefined,
): { tokenId: string; secret: string } | undefined {
  const m = format.exec(/^Bearer (\S+)$/.exec(authorization?.trim() ?? "")?.[1] ?? "");
  return m ? { tokenId: m[1]!, secret: m[2]! } : undefined;
}

export const hashSecret = (secret: string) => createHash("sha256").update(secret, "utf8").digest("hex");

/** Compares the secret's digest with the stored one in constant time (equal-length digests, always). */
export function secretMatches(secret: string, storedHash: string): boolean {
  const given = Buffer.from(hashSecret(secret), "hex");
  const stored = Buffer.from(storedHash, "hex");
  return stored.length === given.length && timingSafeEqual(given, stored);
}
