import { describe, expect, it } from "vitest";
import {
  hashSecret,
  isProvisioningSecretHeader,
  issueProvisioningSecret,
  parseProvisioningSecret,
  secretMatches,
} from "../../shared/usecases/scim/secret.js";
import { sortableId } from "../../shared/usecases/capabilities.js";

describe("provisioning secrets: format, parse, hash and compare", () => {
  it("issues scimp_{tokenId}_{43 base64url characters} (256 random bits) and stores only the secret's SHA-256", () => {
    const tokenId = sortableId();
    const { token, hash } = issueProvisioningSecret(tokenId);
    expect(token).toMatch(new RegExp(`^scimp_${tokenId}_[A-Za-z0-9_-]{43}$`));
    const secret = token.slice(`scimp_${tokenId}_`.length);
    expect(Buffer.from(secret, "base64url")).toHaveLength(32);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).toBe(hashSecret(secret));
    expect(token).not.toContain(hash);
  });

  it("never issues the same secret twice", () => {
    const tokenId = sortableId();
    const tokens = new Set(Array.from({ length: 200 }, () => issueProvisioningSecret(tokenId).token));
    expect(tokens.size).toBe(200);
  });

  it("parses its own tokens back from an Authorization header, with the id and the secret", () => {
    const tokenId = sortableId();
    const { token, hash } = issueProvisioningSecret(tokenId);
    const parsed = parseProvisioningSecret(`Bearer ${token}`);
    expect(parsed?.tokenId).toBe(tokenId);
    expect(secretMatches(parsed!.secret, hash)).toBe(true);
    expect(isProvisioningSecretHeader(`Bearer ${token}`)).toBe(true);
  });

  it("refuses malformed bearers: wrong prefix, id, length, characters, or a JWT", () => {
    const tokenId = sortableId();
    const { token } = issueProvisioningSecret(tokenId);
    const secret = token.slice(`scimp_${tokenId}_`.length);
    for (const bad of [
      token,
      `Basic ${token}`,
      `Bearer ${token}x`,
      `Bearer ${token.slice(0, -1)}`,
      `Bearer scimx_${tokenId}_${secret}`,
      `Bearer scimp_${tokenId.toUpperCase()}_${secret}`,
      `Bearer scimp_${tokenId}x_${secret}`,
      `Bearer scimp_${tokenId}_${secret.slice(0, -1)}=`,
      `Bearer ${token} extra`,
      "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
      "",
      null,
      undefined,
    ])
      expect(parseProvisioningSecret(bad), String(bad)).toBeUndefined();
    expect(isProvisioningSecretHeader("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")).toBe(false);
    expect(isProvisioningSecretHeader(null)).toBe(false);
  });

  it("compares the secret's digest with the stored one: another secret, or a stored value of another length, fails", () => {
    const tokenId = sortableId();
    const a = issueProvisioningSecret(tokenId);
    const b = issueProvisioningSecret(tokenId);
    const secretA = parseProvisioningSecret(`Bearer ${a.token}`)!.secret;
    expect(secretMatches(secretA, a.hash)).toBe(true);
    expect(secretMatches(secretA, b.hash)).toBe(false);
    expect(secretMatches(secretA, a.hash.slice(0, 62))).toBe(false);
    expect(secretMatches(secretA, "")).toBe(false);
  });
});
