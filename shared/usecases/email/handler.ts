/**
 * What every email kind's handler is given and gives back. Each kind (`invitation.ts`,
 * `ownerAlert.ts`, `copy.ts`, `auditReport.ts`) imports this module and nothing else of the mailer;
 * `kinds.ts` names them all, and `mailer.ts` runs them.
 */
import { createHash } from "node:crypto";
import type { EmailJob } from "../../model/emailJobs.js";
import type { Membership, TenantUser } from "../../model/records.js";
import type { EmailSender, OutgoingEmail } from "../../ports/email.js";
import type { InvitationSettings } from "../../invitations/links.js";
import type { Capabilities } from "../capabilities.js";

/** What the mailer needs: storage, time, a log, the email service and the settings links are made from. */
export interface MailerDeps extends Pick<
  Capabilities,
  "repo" | "audits" | "copies" | "emailRecords" | "reviews" | "clock" | "log"
> {
  sender: EmailSender;
  invitations: InvitationSettings;
  /** How long audit report links work (`REPORT_TTL_DAYS`; the contract's default when not given). */
  reportTtlDays?: number;
}

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

/** The handler of each job kind; a kind left out has its messages kept (they end in the poison queue). */
export type EmailJobHandlers = { [K in EmailJob["kind"]]?: EmailJobHandler<K> };

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

/** Apps (integrations with `Sharing.Admin`) share and send copies too; they have no directory entry. */
export function sharerName(user: TenantUser | undefined): string {
  return user?.displayName ?? "An administrator";
}

/** The enabled SystemAdministrators among an environment's members: who environment-wide emails go to. */
export async function enabledAdmins(deps: Pick<MailerDeps, "repo">, members: Membership[]): Promise<TenantUser[]> {
  const adminIds = members.filter((m) => m.securityRoles.includes("SystemAdministrator")).map((m) => m.userId);
  return (await Promise.all(adminIds.map((id) => deps.repo.getUser(id)))).filter(
    (u): u is TenantUser => u !== undefined && u.enabled,
  );
}

/** `base` and `path` joined by exactly one slash. */
export const joinUrl = (base: string, path: string) => `${base.replace(/\/+$/, "")}/${path}`;
