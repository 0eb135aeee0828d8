import { standingGrant } from "../sharing.js";
import { ConcurrencyError } from "../../errors.js";
import type { EmailJob } from "../../model/emailJobs.js";
import type { Invitation } from "../../model/records.js";
import { renderInvitationEmail } from "../../emails/invitation.js";
import { invitationLink } from "../../invitations/links.js";
import { signInvitationToken } from "../../invitations/token.js";
import { emailOperationId, sharerName, type EmailJobHandler, type MailerDeps } from "./handler.js";

type InvitationJob = Extract<EmailJob, { kind: "invitation" }>;

/**
 * Changes an invitation under its ETag, but only the one this job is about (same nonce) and only
 * while `from` allows; a concurrent change (accept, revoke, resend) is re-read and decided again.
 */
async function updateInvitation(
  deps: MailerDeps,
  job: InvitationJob,
  from: (i: Invitation) => boolean,
  change: (i: Invitation) => Invitation,
): Promise<void> {
  for (let tries = 0; tries < 5; tries++) {
    const found = await deps.repo.getInvitation(job.envId, job.resourceId, job.invitationId);
    if (!found || found.invitation.nonce !== job.nonce || !from(found.invitation)) return;
    try {
      await deps.repo.replaceInvitation(job.envId, job.resourceId, change(found.invitation), found.etag);
      return;
    } catch (e) {
      if (!(e instanceof ConcurrencyError)) throw e;
    }
  }
  throw new Error(`invitation ${job.invitationId} kept changing; trying again later`);
}

const whileQueued = (i: Invitation) => i.status === "queued";

/** The invitation email, when the invitation still waits for it and its grant still stands. */
export const prepareInvitationEmail: EmailJobHandler<"invitation"> = async (deps, job) => {
  // The resource's meta row is read too, so a resource that can't be read fails the job (and the
  // queue retries it, then poisons it) rather than passing as a missing invitation.
  const [found] = await Promise.all([
    deps.repo.getInvitation(job.envId, job.resourceId, job.invitationId),
    deps.repo.rawResourceMeta(job.envId, job.resourceId),
  ]);
  if (!found) return { skip: "the invitation no longer exists" };
  const inv = found.invitation;
  if (inv.nonce !== job.nonce) return { skip: "superseded by a resend" };
  if (inv.status !== "queued") return { skip: `the invitation is already ${inv.status}` };
  const state = await deps.repo.resourceStateFor(job.envId, job.resourceId, [
    { type: inv.principalType, id: inv.principalId },
  ]);
  if (!state || !standingGrant(state.grants, inv)) {
    await updateInvitation(deps, job, whileQueued, (i) => ({ ...i, status: "revoked" }));
    return { skip: "the grant is gone; the invitation is marked revoked" };
  }
  const now = deps.clock();
  if (new Date(inv.expiresAt) <= now) return { skip: "the invitation expired before it could be sent" };
  const [recipient, sharer] = await Promise.all([deps.repo.getUser(inv.principalId), deps.repo.getUser(inv.sharedBy)]);
  if (!recipient) {
    await updateInvitation(deps, job, whileQueued, (i) => ({
      ...i,
      status: "failed",
      failedReason: `user ${inv.principalId} is not in the tenant directory`,
    }));
    return { skip: "the invitee is not in the tenant directory; the invitation is marked failed" };
  }
  const token = await signInvitationToken(
    deps.invitations.signingKey,
    {
      envId: job.envId,
      resourceId: job.resourceId,
      invitationId: inv.invitationId,
      principal: { type: inv.principalType, id: inv.principalId },
      nonce: inv.nonce,
      expiresAt: new Date(inv.expiresAt),
    },
    now,
  );
  const rendered = renderInvitationEmail({
    kind: state.resource.kind,
    role: inv.role,
    resourceName: state.resource.displayName,
    sharerName: sharerName(sharer),
    recipientName: recipient.displayName,
    message: inv.message,
    link: invitationLink(deps.invitations.publicBaseUrl, token),
    expiresAt: inv.expiresAt,
    analyticsReady: state.resource.analyticsReady,
  });
  return {
    envId: job.envId,
    email: {
      operationId: emailOperationId(`invitation|${inv.invitationId}|${inv.nonce}`),
      to: [{ address: recipient.email, displayName: recipient.displayName }],
      ...rendered,
    },
    recordSent: (at) =>
      updateInvitation(deps, job, whileQueued, (i) => ({ ...i, status: "sent", sentAt: at.toISOString() })),
    recordFailed: (reason) =>
      updateInvitation(deps, job, whileQueued, (i) => ({ ...i, status: "failed", failedReason: reason.slice(0, 500) })),
  };
};
