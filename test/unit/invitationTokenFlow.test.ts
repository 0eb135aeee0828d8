import { describe, expect, it } from "vitest";
import { signInvitationToken } from "../../shared/invitations/token.js";
import { putEnvironment, putMembership, putUser } from "../../shared/usecases/directory.js";
import {
  acceptInvitation,
  openInvitation,
  resendInvitation,
  type InvitationDeps,
} from "../../shared/usecases/invitations.js";
import { deleteResource, putResource } from "../../shared/usecases/resources.js";
import { revoke, share, sharedWith } from "../../shared/usecases/sharing.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import { memoryCaps } from "../support/memoryCaps.js";

// Tokens checked against stored state: the use cases behind the invitation page, accept and resend,
// on the in-memory store.

const admin: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
const as = (id: string): Caller => ({ principalId: id, appRoles: [] });
const invitations = {
  signingKey: "t".repeat(40),
  publicBaseUrl: "https://api.example.test",
  appBaseUrl: "https://app.example.test/",
};

async function world() {
  const m = memoryCaps();
  let now = new Date();
  const deps: InvitationDeps = { ...m.caps, clock: () => now, invitations };
  await putEnvironment(deps, admin, {
    envId: "e1",
    displayName: "Env",
    isDefault: false,
    sensitive: false,
    expectedOwnerGroupIds: [],
    sovereignCloud: false,
  });
  for (const [id, roles] of [
    ["maker", ["EnvironmentMaker"]],
    ["bob", ["BasicUser"]],
    ["vic", ["BasicUser"]],
  ] as const) {
    await putUser(deps, admin, {
      userId: id,
      email: `${id}@x.test`,
      displayName: id.toUpperCase(),
      userType: "member",
      enabled: true,
      license: "paid",
    });
    await putMembership(deps, admin, { envId: "e1", userId: id, securityRoles: [...roles] });
  }
  await putResource(
    deps,
    as("maker"),
    "e1",
    "p1",
    { kind: "processMining", displayName: "Orders", creatorId: "maker", analyticsReady: false },
    undefined,
  );
  const r = await share(deps, as("maker"), "e1", "p1", {
    role: "viewer",
    principals: [{ type: "user", id: "bob" }],
    sendInvitation: true,
    message: "hi",
  });
  const invitationId = r.invitations[0]!.id;
  const tokenFor = async () => {
    const inv = (await deps.repo.getInvitation("e1", "p1", invitationId))!.invitation;
    return signInvitationToken(
      invitations.signingKey,
      {
        envId: "e1",
        resourceId: "p1",
        invitationId,
        principal: { type: "user", id: "bob" },
        nonce: inv.nonce,
        expiresAt: new Date(inv.expiresAt),
      },
      now,
    );
  };
  return { deps, invitationId, tokenFor, setNow: (d: Date) => void (now = d) };
}

describe("invitation links against stored state", () => {
  it("opens without changing anything, accepts once, and leads to the details while analytics aren't ready", async () => {
    const w = await world();
    const token = await w.tokenFor();
    const opened = await openInvitation(w.deps, token);
    expect(opened).toMatchObject({
      ok: true,
      page: {
        role: "viewer",
        sharerName: "MAKER",
        recipientName: "BOB",
        message: "hi",
        accepted: false,
        resource: { displayName: "Orders", kind: "processMining" },
      },
    });
    expect((await sharedWith(w.deps, as("maker"), "e1", "p1")).invitations[0]!.status).toBe("queued");
    const location = "https://app.example.test/environments/e1/resources/p1/details";
    expect(await acceptInvitation(w.deps, token)).toEqual({ ok: true, location });
    const accepted = (await w.deps.repo.getInvitation("e1", "p1", w.invitationId))!;
    expect(accepted.invitation).toMatchObject({ status: "accepted" });
    expect(await acceptInvitation(w.deps, token)).toEqual({ ok: true, location });
    expect((await w.deps.repo.getInvitation("e1", "p1", w.invitationId))!.etag).toBe(accepted.etag);
    const log = await w.deps.repo.resourceChanges("e1", "p1", undefined, 50);
    expect(log.items.filter((c) => c.action === "invitation.accepted")).toHaveLength(1);
    expect(await openInvitation(w.deps, token)).toMatchObject({ ok: true, page: { accepted: true } });
  });

  it("says revoked once the grant is revoked or the resource deleted, and changes nothing", async () => {
    const w = await world();
    const token = await w.tokenFor();
    await revoke(w.deps, as("maker"), "e1", "p1", { type: "user", id: "bob" }, "viewer");
    expect(await openInvitation(w.deps, token)).toEqual({ ok: false, reason: "revoked" });
    expect(await acceptInvitation(w.deps, token)).toEqual({ ok: false, reason: "revoked" });
    // A revoke doesn't rewrite invitations: they read as revoked, and sharing again doesn't revive the link.
    const listed = await sharedWith(w.deps, as("maker"), "e1", "p1");
    expect(listed.invitations.find((i) => i.id === w.invitationId)?.status).toBe("revoked");
    await share(w.deps, as("maker"), "e1", "p1", {
      role: "viewer",
      principals: [{ type: "user", id: "bob" }],
      sendInvitation: false,
    });
    expect(await openInvitation(w.deps, token)).toEqual({ ok: false, reason: "revoked" });

    const w2 = await world();
    const token2 = await w2.tokenFor();
    await deleteResource(w2.deps, as("maker"), "e1", "p1");
    expect(await acceptInvitation(w2.deps, token2)).toEqual({ ok: false, reason: "revoked" });
  });

  it("says expired after the expiry, and superseded after a resend, whose new link works", async () => {
    const w = await world();
    const old = await w.tokenFor();
    const resent = await resendInvitation(w.deps, as("maker"), "e1", "p1", w.invitationId);
    expect(resent).toMatchObject({ id: w.invitationId, status: "queued" });
    expect(await openInvitation(w.deps, old)).toEqual({ ok: false, reason: "superseded" });
    const fresh = await w.tokenFor();
    expect((await openInvitation(w.deps, fresh)).ok).toBe(true);
    w.setNow(new Date(Date.now() + 15 * 86_400_000));
    expect(await acceptInvitation(w.deps, fresh)).toEqual({ ok: false, reason: "expired" });
  });

  it("lets only those who may share the role resend, and not after acceptance or revocation", async () => {
    const w = await world();
    await expect(resendInvitation(w.deps, as("bob"), "e1", "p1", w.invitationId)).rejects.toMatchObject({
      code: "forbidden",
    });
    await expect(resendInvitation(w.deps, as("vic"), "e1", "p1", w.invitationId)).rejects.toMatchObject({
      code: "notFound",
    });
    await expect(resendInvitation(w.deps, as("maker"), "e1", "p1", "nope")).rejects.toMatchObject({ code: "notFound" });
    await acceptInvitation(w.deps, await w.tokenFor());
    await expect(resendInvitation(w.deps, as("maker"), "e1", "p1", w.invitationId)).rejects.toMatchObject({
      code: "conflict",
    });
    await revoke(w.deps, as("maker"), "e1", "p1", { type: "user", id: "bob" }, "viewer");
    await expect(resendInvitation(w.deps, admin, "e1", "p1", w.invitationId)).rejects.toMatchObject({
      code: "conflict",
    });
  });
});
