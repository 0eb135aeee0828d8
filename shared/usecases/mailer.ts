/**
 * The mailer: turns one job of the outbound email queue into at most one email.
 *
 * ## Control flow (the same for every kind)
 * 1. Parse the message with `emailJobSchema`; a message that doesn't parse is logged and dropped
 *    (no retry can fix it, and throwing would only cycle it to the poison queue).
 * 2. Look up the job's handler in {@link emailJobHandlers} and let it *prepare*: read current state
 *    and either say why nothing is to be sent (`{ skip }`: superseded, already sent, revoked...) or
 *    render the email with an `operationId` that is the same for every retry of that email.
 * 3. Claim the email in its {@link EmailRecords} row (`sending`, by this queue message's id). A
 *    record that is `sent` or `failed`, or `sending` under another message's fresh claim, means a
 *    duplicate: nothing is sent.
 * 4. Send through the {@link EmailSender}. On success the record becomes `sent` and the handler's
 *    `recordSent` runs (an invitation becomes `sent`). A permanent failure makes the record `failed`,
 *    runs `recordFailed` and returns (retrying can't help). A transient failure throws, so the
 *    Functions host redelivers the message; on its last dequeue ({@link maxDequeueCount}, as
 *    host.json says) the email is recorded `failed` first, and the host then moves the message to
 *    `outbound-email-poison`.
 *
 * ## Adding a kind (copies, audit reports)
 * Write an {@link EmailJobHandler} for the kind in your own module: read what the job names, render
 * the email with a template from `shared/emails/`, and return `{ envId, email, recordSent,
 * recordFailed }` (use {@link emailOperationId} with a name unique to that email, e.g.
 * `copy|${copyId}`) or `{ skip: "why" }`. Then add it to {@link emailJobHandlers} below, one line.
 * The claim, the sent record, retries and failure handling above are then yours for free. A kind
 * with no handler yet is not dropped: its messages fail and are kept in the poison queue.
 */
import { createHash } from "node:crypto";
import { ConcurrencyError } from "../errors.js";
import { emailJobSchema, type EmailJob } from "../model/emailJobs.js";
import type { Invitation, PrincipalRef, TenantUser } from "../model/records.js";
import { EmailSendError, type EmailSender, type OutgoingEmail } from "../ports/email.js";
import { renderInvitationEmail } from "../emails/invitation.js";
import { renderOwnerAlertEmail } from "../emails/ownerAlert.js";
import { invitationLink, sharingPageUrl, type InvitationSettings } from "../invitations/links.js";
import { signInvitationToken } from "../invitations/token.js";
import type { EmailRecord } from "../model/emailRecords.js";
import { EmailRecords } from "../store/emailRecords.js";
import type { Capabilities } from "./capabilities.js";
import { prepareAuditReportEmail } from "./auditReportEmail.js";
import { prepareCopyEmail } from "./copyEmail.js";

/** What the mailer needs: storage, time, a log, the email service and the settings links are made from. */
export interface MailerDeps extends Pick<Capabilities, "repo" | "clock" | "log"> {
  sender: EmailSender;
  invitations: InvitationSettings;
}

/** The queue delivery being handled (`context.triggerMetadata`). */
export interface Delivery {
  /** The queue message's id: the same on every dequeue of one message, different for a duplicate message. */
  messageId: string | undefined;
  /** 1 on the first delivery. */
  dequeueCount: number;
}

/** host.json `extensions.queues.maxDequeueCount`: the dequeue after which the host moves a failing message to the poison queue. */
export const maxDequeueCount = 5;

/**
 * How long a `sending` claim keeps other queue messages for the same email away. Longer than one
 * send can take (the ACS adapter gives up after 30 s); a claimer that crashed gets its own message
 * back (same id) and carries on, so this only matters when the claiming message itself is gone.
 */
export const claimTtlMs = 5 * 60_000;

/** What a handler found: nothing to send and why, or the email and how to record its fate. */
export type Prepared =
  | { skip: string }
  | {
      /** The environment the email belongs to (its record lives there). */
      envId: string;
      email: OutgoingEmail;
      /** Records that the email went out; idempotent (it may run again after a crash). */
      recordSent: (at: Date) => Promise<void>;
      /** Records that the email can't be sent; idempotent. */
      recordFailed: (reason: string) => Promise<void>;
    };

/** Prepares the email for one kind of job. */
export type EmailJobHandler<K extends EmailJob["kind"]> = (
  deps: MailerDeps,
  job: Extract<EmailJob, { kind: K }>,
) => Promise<Prepared>;

export type EmailJobHandlers = { [K in EmailJob["kind"]]?: EmailJobHandler<K> };

/** The outcome of one delivery, for the log. */
export interface MailOutcome {
  result: "sent" | "skipped" | "failed" | "dropped";
  detail: string;
}

/** A UUID (version 5 layout) derived from a name, so every retry of one email carries the same `Operation-Id`. */
export function emailOperationId(name: string): string {
  // A fixed namespace of this app; changing it would change every operation id.
  const namespace = Buffer.from("3b8f5c1e9d2a4e7fb6c04a1d2e3f5a6b", "hex");
  const h = createHash("sha1").update(namespace).update(name, "utf8").digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Handles one queue message. Throws only when the message should be delivered again (a transient failure). */
export async function handleEmailMessage(
  deps: MailerDeps,
  message: unknown,
  delivery: Delivery,
  handlers: EmailJobHandlers = emailJobHandlers,
): Promise<MailOutcome> {
  const parsed = emailJobSchema.safeParse(typeof message === "string" ? tryJson(message) : message);
  if (!parsed.success) {
    const detail = `not an email job, dropped: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(message)"}: ${i.message}`).join("; ")}`;
    deps.log(detail);
    return { result: "dropped", detail };
  }
  const job = parsed.data;
  const handler = handlerFor(handlers, job);
  if (!handler)
    throw new Error(`no mailer handler for ${job.kind} jobs yet; the message is kept (it ends in the poison queue)`);
  const prepared = await handler(deps, job);
  if ("skip" in prepared) return { result: "skipped", detail: `${job.kind}: ${prepared.skip}` };
  return deliverOnce(deps, job.kind, prepared, delivery);
}

async function deliverOnce(
  deps: MailerDeps,
  kind: string,
  p: Exclude<Prepared, { skip: string }>,
  delivery: Delivery,
): Promise<MailOutcome> {
  const records = new EmailRecords(deps.repo);
  const operationId = p.email.operationId;
  const me = delivery.messageId ?? `unknown-${operationId}`;
  let etag: string | undefined;
  for (let tries = 0; etag === undefined; tries++) {
    if (tries >= 5) throw new Error(`email ${operationId}: its record kept changing; trying again later`);
    const current = await records.get(p.envId, operationId);
    const r = current?.record;
    if (r?.state === "sent") {
      // A crash after the send left the handler's own record behind; bring it in line.
      await p.recordSent(new Date(r.sentAt ?? r.claimedAt));
      return { result: "skipped", detail: `${kind}: email ${operationId} was already sent` };
    }
    if (r?.state === "failed") {
      await p.recordFailed(r.failedReason ?? "the email could not be sent");
      return { result: "skipped", detail: `${kind}: email ${operationId} already failed` };
    }
    const now = deps.clock();
    if (
      r?.state === "sending" &&
      r.claimedBy !== me &&
      delivery.messageId !== undefined &&
      now.getTime() - Date.parse(r.claimedAt) < claimTtlMs
    ) {
      // Another message is sending it and stays on the queue until it has; this one is a duplicate.
      return { result: "skipped", detail: `${kind}: email ${operationId} is being sent by message ${r.claimedBy}` };
    }
    const claim: EmailRecord = { operationId, kind, state: "sending", claimedBy: me, claimedAt: now.toISOString() };
    etag = await records.put(p.envId, claim, current ? current.etag : "new");
  }

  const final = delivery.dequeueCount >= maxDequeueCount;
  const fail = async (reason: string) => {
    const failedReason = reason.slice(0, 500);
    await records.put(
      p.envId,
      { operationId, kind, state: "failed", claimedBy: me, claimedAt: deps.clock().toISOString(), failedReason },
      etag,
    );
    await p.recordFailed(failedReason);
  };
  try {
    await deps.sender.send(p.email);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    if (e instanceof EmailSendError && e.code === "permanent") {
      await fail(reason);
      return { result: "failed", detail: `${kind}: email ${operationId} failed for good: ${reason}` };
    }
    if (final) {
      await fail(`gave up after ${delivery.dequeueCount} attempts: ${reason}`).catch((err: unknown) =>
        deps.log(
          `email ${operationId}: recording the failure failed: ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
    }
    throw e;
  }
  const sentAt = deps.clock();
  // Written without condition: the email went out, whatever claimed it meanwhile.
  await records.put(
    p.envId,
    { operationId, kind, state: "sent", claimedBy: me, claimedAt: sentAt.toISOString(), sentAt: sentAt.toISOString() },
    "*",
  );
  await p.recordSent(sentAt);
  return { result: "sent", detail: `${kind}: email ${operationId} sent to ${p.email.to.length} recipient(s)` };
}

/** The table is keyed by kind, so the handler found for a job takes that job; TypeScript can't follow the correlation. */
function handlerFor<J extends EmailJob>(
  handlers: EmailJobHandlers,
  job: J,
): ((deps: MailerDeps, job: J) => Promise<Prepared>) | undefined {
  return handlers[job.kind] as ((deps: MailerDeps, job: J) => Promise<Prepared>) | undefined;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

// ---------------------------------------------------------------------------------------------
// Invitations

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
  const [found, state] = await Promise.all([
    deps.repo.getInvitation(job.envId, job.resourceId, job.invitationId),
    deps.repo.resourceState(job.envId, job.resourceId),
  ]);
  if (!found) return { skip: "the invitation no longer exists" };
  const inv = found.invitation;
  if (inv.nonce !== job.nonce) return { skip: "superseded by a resend" };
  if (inv.status !== "queued") return { skip: `the invitation is already ${inv.status}` };
  const granted = state?.grants.some(
    (g) => g.principalType === inv.principalType && g.principalId === inv.principalId && g.role === inv.role,
  );
  if (!state || !granted) {
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

/** Apps (integrations with `Sharing.Admin`) share too; they have no directory entry. */
function sharerName(user: TenantUser | undefined): string {
  return user?.displayName ?? "An administrator";
}

// ---------------------------------------------------------------------------------------------
// Owner alerts

/** The alert to the environment's SystemAdministrators when an owner or co-owner is added in a sensitive environment. */
export const prepareOwnerAlertEmail: EmailJobHandler<"ownerAlert"> = async (deps, job) => {
  const [env, members, state, actor] = await Promise.all([
    deps.repo.getEnvironment(job.envId),
    deps.repo.environmentMembers(job.envId),
    deps.repo.resourceState(job.envId, job.resourceId),
    deps.repo.getUser(job.actorId),
  ]);
  if (!env) return { skip: `environment ${job.envId} no longer exists` };
  const adminIds = members.filter((m) => m.securityRoles.includes("SystemAdministrator")).map((m) => m.userId);
  const admins = (await Promise.all(adminIds.map((id) => deps.repo.getUser(id)))).filter(
    (u): u is TenantUser => u !== undefined && u.enabled,
  );
  if (admins.length === 0) {
    deps.log(`owner alert ${job.alertId}: environment ${job.envId} has no enabled SystemAdministrator to alert`);
    return { skip: "the environment has no enabled admin to alert" };
  }
  const rendered = renderOwnerAlertEmail({
    environmentName: env.displayName,
    resource: state ? { name: state.resource.displayName, kind: state.resource.kind } : undefined,
    resourceId: job.resourceId,
    principalLabel: await principalLabel(deps, job.envId, job.principal),
    role: job.role,
    actorName: sharerName(actor),
    at: job.at,
    link: sharingPageUrl(deps.invitations.appBaseUrl, job.envId, job.resourceId),
  });
  const noteOnly = async () => undefined;
  return {
    envId: job.envId,
    email: {
      operationId: emailOperationId(`ownerAlert|${job.alertId}`),
      to: admins.map((a) => ({ address: a.email, displayName: a.displayName })),
      ...rendered,
    },
    recordSent: noteOnly,
    recordFailed: async (reason) =>
      deps.log(`owner alert ${job.alertId} for ${job.envId}/${job.resourceId} could not be sent: ${reason}`),
  };
};

async function principalLabel(deps: MailerDeps, envId: string, p: PrincipalRef): Promise<string> {
  if (p.type === "user") {
    const user = await deps.repo.getUser(p.id);
    return user ? `${user.displayName} (${user.email}${user.userType === "guest" ? ", guest" : ""})` : `user ${p.id}`;
  }
  const group = await deps.repo.getGroup(envId, p.id);
  const what = p.type === "group" ? "security group" : "SharePoint list";
  return group ? `${group.group.displayName} (${what})` : `${what} ${p.id}`;
}

/**
 * The handler of each job kind. `copy` and `auditReport` are added by the modules that create those
 * jobs (see "Adding a kind" at the top of this file).
 */
export const emailJobHandlers: EmailJobHandlers = {
  invitation: prepareInvitationEmail,
  ownerAlert: prepareOwnerAlertEmail,
  copy: prepareCopyEmail,
  auditReport: prepareAuditReportEmail,
};
