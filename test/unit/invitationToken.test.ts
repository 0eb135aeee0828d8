import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { signDevToken } from "../../shared/adapters/http/devToken.js";
import {
  signInvitationToken,
  verifyInvitationToken,
  type InvitationTokenClaims,
} from "../../shared/invitations/token.js";

const key = "k".repeat(16) + "0123456789abcdef0123";
const otherKey = "o".repeat(40);
const now = new Date("2026-03-01T10:00:00Z");
const claims: InvitationTokenClaims = {
  envId: "env-1",
  resourceId: "proc-1",
  invitationId: "inv-1",
  principal: { type: "user", id: "bob" },
  nonce: "n0nce-abcdef",
  expiresAt: new Date("2026-03-15T10:00:00Z"),
};

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const parts = (token: string) => {
  const [header, payload, signature] = token.split(".");
  return { header: header!, payload: payload!, signature: signature! };
};
const decodePayload = (token: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(parts(token).payload, "base64url").toString("utf8")) as Record<string, unknown>;

describe("invitation tokens", () => {
  it("round-trips every claim and expires with the invitation", async () => {
    const token = await signInvitationToken(key, claims, now);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const checked = await verifyInvitationToken(key, token, now);
    expect(checked).toEqual({ ok: true, claims });
    expect(decodePayload(token)).toMatchObject({
      exp: claims.expiresAt.getTime() / 1000,
      sub: "bob",
      inv: "inv-1",
      n: "n0nce-abcdef",
    });
  });

  it("is refused as expired from its expiry on, and only then", async () => {
    const token = await signInvitationToken(key, claims, now);
    expect((await verifyInvitationToken(key, token, new Date(claims.expiresAt.getTime() - 1000))).ok).toBe(true);
    expect(await verifyInvitationToken(key, token, claims.expiresAt)).toEqual({ ok: false, reason: "expired" });
    expect(await verifyInvitationToken(key, token, new Date("2027-01-01T00:00:00Z"))).toEqual({
      ok: false,
      reason: "expired",
    });
  });

  it("refuses a token signed with another key, and a forged signature", async () => {
    const token = await signInvitationToken(otherKey, claims, now);
    expect(await verifyInvitationToken(key, token, now)).toEqual({ ok: false, reason: "invalid" });
    const { header, payload } = parts(await signInvitationToken(key, claims, now));
    const forged = `${header}.${payload}.${Buffer.alloc(32, 7).toString("base64url")}`;
    expect(await verifyInvitationToken(key, forged, now)).toEqual({ ok: false, reason: "invalid" });
  });

  it("refuses a tampered payload, even one pointing at another invitation", async () => {
    const token = await signInvitationToken(key, claims, now);
    const { header, signature } = parts(token);
    for (const change of [{ inv: "inv-2" }, { sub: "mallory" }, { n: "another-nonce" }, { exp: 4_102_444_800 }]) {
      const tampered = `${header}.${b64({ ...decodePayload(token), ...change })}.${signature}`;
      expect(await verifyInvitationToken(key, tampered, now)).toEqual({ ok: false, reason: "invalid" });
    }
  });

  it("refuses an expired token that was tampered with as invalid, never as expired", async () => {
    const token = await signInvitationToken(
      key,
      { ...claims, expiresAt: new Date("2026-02-01T00:00:00Z") },
      new Date("2026-01-01T00:00:00Z"),
    );
    const { header, signature } = parts(token);
    const tampered = `${header}.${b64({ ...decodePayload(token), inv: "inv-9" })}.${signature}`;
    expect(await verifyInvitationToken(key, tampered, now)).toEqual({ ok: false, reason: "invalid" });
  });

  it("refuses alg none, with or without a signature part", async () => {
    const payload = b64({ ...decodePayload(await signInvitationToken(key, claims, now)) });
    const none = b64({ alg: "none", typ: "invitation+jwt" });
    expect(await verifyInvitationToken(key, `${none}.${payload}.`, now)).toEqual({ ok: false, reason: "invalid" });
    expect(await verifyInvitationToken(key, `${none}.${payload}.AAAA`, now)).toEqual({ ok: false, reason: "invalid" });
  });

  it("refuses other algorithms with the right key (HS512), and a token of another kind signed with the same key", async () => {
    const hs512 = await new SignJWT({ env: "env-1", res: "proc-1", inv: "inv-1", pt: "user", n: "n0nce-abcdef" })
      .setProtectedHeader({ alg: "HS512", typ: "invitation+jwt" })
      .setIssuer("urn:sharing:invitation")
      .setAudience("urn:sharing:invitation")
      .setSubject("bob")
      .setExpirationTime(claims.expiresAt)
      .sign(new TextEncoder().encode(key));
    expect(await verifyInvitationToken(key, hs512, now)).toEqual({ ok: false, reason: "invalid" });
    const apiToken = await signDevToken(key, { sub: "bob" });
    expect(await verifyInvitationToken(key, apiToken, new Date())).toEqual({ ok: false, reason: "invalid" });
  });

  it("refuses garbage without throwing", async () => {
    const token = await signInvitationToken(key, claims, now);
    for (const bad of [
      "",
      "x",
      "a.b",
      "a.b.c",
      "%3Cscript%3E",
      "<script>alert(1)</script>",
      token.slice(0, -3),
      `${token}x`,
      "A".repeat(5000),
      `${token}.extra`,
    ]) {
      expect(await verifyInvitationToken(key, bad, now)).toEqual({ ok: false, reason: "invalid" });
    }
  });
});
