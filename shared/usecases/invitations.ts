import { randomBytes } from "node:crypto";
import { conflict, notFound } from "../errors.js";
import type { Invitation, Resource } from "../model/records.js";
import { resourcePageUrl, type InvitationSettings } from "../invitations/links.js";
import { verifyInvitationToken, type InvitationTokenClaims } from "../invitations/token.js";
import type { Role } from "../rules/matrix.js";
import type { ResourceState } from "../store/repository.js";
import { requireAction, viewAsCaller } from "./access.js";
import type { Caller, Capabilities } from "./capabilities.js";
import { changeEntry, changeResource, outboxItems } from "./mutate.js";
import { invitationView, manageAction, standingGrant, type InvitationView } from "./sharing.js";

export type InvitationDeps = Pick<
  Capabilities,
  "repo" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock" | "invitationTtlDays"
> & {
  invitations: InvitationSettings;
};

/**
 * Why a link doesn't work: `invalid` (not a token we signed: garbled, forged, tampered), `expired`,
 * `revoked` (the grant or the resource is gone, or the invitation was revoked) or `superseded` (a
 * resend issued a newer link).
 */
export type InvitationRefusal = "invalid" | "expired" | "revoked" | "superseded";

/** What the invitation page shows. */
export interface InvitationPageModel {
  resource: Pick<Resource, "envId" | "resourceId" | "kind" | "displayName">;
  role: Role;
  sharerName: string;
  recipientName: string | undefined;
  message: string | undefined;
  expiresAt: string;
  accepted: boolean;
}

export type Opened = { ok: true; page: InvitationPageModel } | { ok: false; reason: InvitationRefusal };
export type Accepted = { ok: true; location: string } | { ok: false; reason: InvitationRefusal };

type Checked =
  | { ok: true; claims: InvitationTokenClaims; invitation: Invitation; state: ResourceState }
  | { ok: false; reason: InvitationRefusal };

/**
 * A token is good when we signed it and it hasn't expired (`shared/invitations/token.ts`), and,
 * against stored state, when its invitation still exists for the same principal, carries the same
 * nonce (no resend since), isn't revoked, and its grant still stands.
 */
async function checkToken(deps: InvitationDeps, token: string): Promise<Checked> {
  const now = deps.clock();
  const verified = await verifyInvitationToken(deps.invitations.signingKey, token, now);
  if (!verified.ok) return verified;
  const c = verified.claims;
  const [found, state] = await Promise.all([
    deps.repo.getInvitation(c.envId, c.resourceId, c.invitationId),
    deps.repo.resourceStateFor(c.envId, c.resourceId, [c.principal]),
  ]);
  if (!found) return { ok: false, reason: "revoked" };
  const inv = found.invitation;
  if (inv.principalType !== c.principal.type || inv.principalId !== c.principal.id)
    return { ok: false, reason: "invalid" };
  if (inv.nonce !== c.nonce) return { ok: false, reason: "superseded" };
  if (inv.status === "revoked") return { ok: false, reason: "revoked" };
  if (!state || !standingGrant(state.grants, inv)) return { ok: false, reason: "revoked" };
  if (inv.status !== "accepted" && new Date(inv.expiresAt) <= now) return { ok: false, reason: "expired" };
  return { ok: true, claims: c, invitation: inv, state };
}

/** `GET /api/invitations/{token}`: what the page shows. Reads only. */
export async function openInvitation(deps: InvitationDeps, token: string): Promise<Opened> {
  const checked = await checkToken(deps, token);
  if (!checked.ok) return checked;
  const { invitation: inv, state } = checked;
  const [sharer, recipient] = await Promise.all([deps.repo.getUser(inv.sharedBy), deps.repo.getUser(inv.principalId)]);
  const r = state.resource;
  return {
    ok: true,
    page: {
      resource: { envId: r.envId, resourceId: r.resourceId, kind: r.kind, displayName: r.displayName },
      role: inv.role,
      sharerName: sharer?.displayName ?? "An administrator",
      recipientName: recipient?.displayName,
      message: inv.message,
      expiresAt: inv.expiresAt,
      accepted: inv.status === "accepted",
    },
  };
}

/**
 * `POST /api/invitations/{token}/accept`: marks the invitation accepted (with a change entry, in
 * one transaction under the resource's ETag, so it can't land beside a revoke) and says where the
 * product shows the resource. Accepting again changes nothing and leads to the same place.
 */
export async function acceptInvitation(deps: InvitationDeps, token: string): Promise<Accepted> {
  return changeResource<Accepted>(deps, async () => {
    const checked = await checkToken(deps, token);
    if (!checked.ok) return { result: checked };
    const { invitation: inv, state, claims } = checked;
    const location = resourcePageUrl(deps.invitations.appBaseUrl, state.resource);
    if (inv.status === "accepted") return { result: { ok: true, location } };
    const entry = changeEntry(deps, {
      actorId: inv.principalId,
      action: "invitation.accepted",
      resourceId: claims.resourceId,
      principal: { type: inv.principalType, id: inv.principalId },
      role: inv.role,
      detail: `invitation ${inv.invitationId} accepted`,
    });
    return {
      change: {
        etag: state.etag,
        resource: state.resource,
        putInvitations: [{ ...inv, status: "accepted", acceptedAt: deps.clock().toISOString() }],
        changes: [entry],
        outbox: outboxItems(deps, [{ type: "log", envId: claims.envId, entries: [entry] }]),
      },
      result: { ok: true, location },
    };
  });
}

const newNonce = () => randomBytes(12).toString("base64url");

/**
 * `POST .../invitations/{invitationId}/resend` (whoever may share that role): a new nonce and
 * expiry, status `queued`, and the email job, in one transaction with the resource's ETag and a
 * change entry. The old link dies because its nonce is no longer the invitation's.
 */
export async function resendInvitation(
  deps: InvitationDeps,
  caller: Caller,
  envId: string,
  resourceId: string,
  invitationId: string,
): Promise<InvitationView> {
  return changeResource(deps, async () => {
    const [view, found] = await Promise.all([
      viewAsCaller(deps, caller, envId, resourceId),
      deps.repo.getInvitation(envId, resourceId, invitationId),
    ]);
    // The invitee's grants: the caller's view holds only the caller's and the groups'.
    const invitee = found
      ? await deps.repo.resourceStateFor(envId, resourceId, [
          { type: found.invitation.principalType, id: found.invitation.principalId },
        ])
      : undefined;
    if (!found) throw notFound(`invitation ${invitationId} was not found on resource ${resourceId}`);
    const inv = found.invitation;
    const action = manageAction(view.state.resource.kind, inv.role);
    if (!action) throw conflict(`invitations to the ${inv.role} role of a ${view.state.resource.kind} can't be resent`);
    requireAction(view, action);
    const granted = standingGrant(invitee?.grants ?? [], inv) !== undefined;
    if (inv.status === "revoked" || !granted)
      throw conflict(`the ${inv.role} grant this invitation was for has been revoked; share again to invite`);
    if (inv.status === "accepted") throw conflict("the invitation has already been accepted");
    const now = deps.clock();
    const fresh: Invitation = {
      invitationId: inv.invitationId,
      principalType: inv.principalType,
      principalId: inv.principalId,
      role: inv.role,
      status: "queued",
      nonce: newNonce(),
      sharedBy: inv.sharedBy,
      ...(inv.message ? { message: inv.message } : {}),
      createdAt: inv.createdAt,
      expiresAt: new Date(now.getTime() + deps.invitationTtlDays * 86_400_000).toISOString(),
    };
    const entry = changeEntry(deps, {
      actorId: caller.principalId,
      action: "invitation.resent",
      resourceId,
      principal: { type: inv.principalType, id: inv.principalId },
      role: inv.role,
      detail: `invitation ${inv.invitationId} resent; the previous link no longer works`,
    });
    return {
      change: {
        etag: view.state.etag,
        resource: view.state.resource,
        putInvitations: [fresh],
        changes: [entry],
        outbox: outboxItems(deps, [
          { type: "log", envId, entries: [entry] },
          {
            type: "email",
            jobs: [{ kind: "invitation", envId, resourceId, invitationId: fresh.invitationId, nonce: fresh.nonce }],
          },
        ]),
      },
      result: invitationView(fresh, now),
    };
  });
}
