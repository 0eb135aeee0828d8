import { randomBytes } from "node:crypto";
import type { EmailQueue, FanoutQueue, WebhookQueue } from "../ports/queue.js";
import type { CheckWebhookTarget, DeliverWebhook } from "../ports/webhookTargets.js";
import type { AuditsRepository } from "../store/auditsRepository.js";
import type { CopiesRepository } from "../store/copiesRepository.js";
import type { EmailRecords } from "../store/emailRecords.js";
import type { IdempotencyStore } from "../store/idempotencyRows.js";
import type { OffboardingsRepository } from "../store/offboardingsRepository.js";
import type { ReassignmentsRepository } from "../store/reassignmentsRepository.js";
import type { SharingRepository } from "../store/repository.js";
import type { ReviewRows } from "../store/reviewRows.js";
import type { WebhookDeliveryRows } from "../store/webhookDeliveryRows.js";

/**
 * Everything the use cases need from the outside world. Each use case asks for the part it uses
 * (`Pick<Capabilities, ...>`); `shared/main.ts` is the one place that builds the real ones, the
 * stores among them with `openStores`.
 */
export interface Capabilities {
  repo: SharingRepository;
  /** Audit runs, their finding chunks and the index of audits not finished yet (the Audits table). */
  audits: AuditsRepository;
  /** Copies of cloud flows sent to recipients (the Copies table). */
  copies: CopiesRepository;
  /** Reassignment jobs and what each run did to each resource (the Reassignments table). */
  reassignments: ReassignmentsRepository;
  /** Offboarding runs and what each did to each resource (the Offboardings table). */
  offboardings: OffboardingsRepository;
  /** The mailer's record of each email, which makes a duplicate job send nothing. */
  emailRecords: EmailRecords;
  /** Idempotency keys of creating POSTs and the answers they replay (the Idempotency table; `defineHttp` uses it). */
  idempotency: IdempotencyStore;
  /** Each event's delivery to each webhook subscription (the WebhookDeliveries table). */
  webhookDeliveries: WebhookDeliveryRows;
  /** Access review definitions, instances, items and reviewer index rows (the Reviews table). */
  reviews: ReviewRows;
  emailQueue: EmailQueue;
  /** Group fan-out work, handled off the request path by `functions/fanout.ts`. */
  fanoutQueue: FanoutQueue;
  /** Webhook events and delivery attempts, handled by `functions/webhookDelivery.ts`. */
  webhookQueue: WebhookQueue;
  clock: () => Date;
  /** Unique ids that sort by creation time. */
  newId: () => string;
  invitationTtlDays: number;
  /** The SSRF guard for webhook URLs (`adapters/http/ssrfGuard.ts`), with the loopback setting bound. */
  checkWebhookTarget: CheckWebhookTarget;
  /** One delivery attempt to a receiver (`adapters/http/webhookSender.ts`), checked by that guard again. */
  deliverWebhook: DeliverWebhook;
  /** Warnings from background steps (the relay), written to the Functions log. */
  log: (message: string) => void;
}

/**
 * Who calls: the token's principal and its app roles (`Sharing.Admin`, `Sharing.Audit`, `Sharing.Check`,
 * `Sharing.Provisioning`).
 */
export interface Caller {
  principalId: string;
  appRoles: readonly string[];
  /**
   * The one environment this caller may act in, where its credential says so: a provisioning secret
   * (`usecases/scim/tokens.ts`) is issued for one environment's SCIM base and nothing else.
   */
  envId?: string;
}

/**
 * The actor the change log names for what nobody did by hand: automatic offboarding, scheduled
 * audits, the expiry timer (sharing-rules.md: "recorded ... as `expire` by `system`").
 */
export const systemActor = "system";

export const isAppAdmin = (c: Caller) => c.appRoles.includes("Sharing.Admin");
export const isAppAuditor = (c: Caller) => c.appRoles.includes("Sharing.Audit");
export const isAppChecker = (c: Caller) => c.appRoles.includes("Sharing.Check");
/** The directory sync service (contract v2): SCIM and the directory routes only. */
export const isAppProvisioner = (c: Caller) => c.appRoles.includes("Sharing.Provisioning");

/** App roles that allow a few routes only: each route says which of them it admits (`defineHttp`'s `narrowApps`). */
export type NarrowAppRole = "Sharing.Check" | "Sharing.Provisioning";

const narrowRoleRefusals: Record<NarrowAppRole, string> = {
  "Sharing.Check":
    "the Sharing.Check app role only allows checks (POST .../check) and effective access (GET .../access/{principalId})",
  "Sharing.Provisioning":
    "the Sharing.Provisioning app role only allows SCIM and the directory routes (tenant users, memberships, groups)",
};

/**
 * Why an app whose Sharing roles are all narrow ones (`Sharing.Check`, `Sharing.Provisioning`) may not
 * call a route that admits none of them, or undefined when it may. Such an app may see the
 * environment; its role just doesn't allow the call, so the answer is 403 saying so, never the 404 a
 * user outside the environment gets.
 */
export function narrowAppRefusal(c: Caller, admitted: readonly NarrowAppRole[]): string | undefined {
  if (isAppAdmin(c) || isAppAuditor(c)) return undefined;
  const held = (Object.keys(narrowRoleRefusals) as NarrowAppRole[]).filter((r) => c.appRoles.includes(r));
  if (held.length === 0 || held.some((r) => admitted.includes(r))) return undefined;
  return held.map((r) => narrowRoleRefusals[r]).join("; ");
}

/** Time-ordered unique ids: 9 base-36 digits of milliseconds and 10 random ones. */
export function sortableId(now: Date = new Date()): string {
  return now.getTime().toString(36).padStart(9, "0") + randomBytes(8).toString("hex").slice(0, 10);
}
