import { randomBytes } from "node:crypto";
import type { EmailQueue, FanoutQueue } from "../ports/queue.js";
import type { AuditsRepository } from "../store/auditsRepository.js";
import type { CopiesRepository } from "../store/copiesRepository.js";
import type { EmailRecords } from "../store/emailRecords.js";
import type { ReassignmentsRepository } from "../store/reassignmentsRepository.js";
import type { SharingRepository } from "../store/repository.js";

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
  /** The mailer's record of each email, which makes a duplicate job send nothing. */
  emailRecords: EmailRecords;
  emailQueue: EmailQueue;
  /** Group fan-out work, handled off the request path by `functions/fanout.ts`. */
  fanoutQueue: FanoutQueue;
  clock: () => Date;
  /** Unique ids that sort by creation time. */
  newId: () => string;
  invitationTtlDays: number;
  /** Warnings from background steps (the relay), written to the Functions log. */
  log: (message: string) => void;
}

/** Who calls: the token's principal and its app roles (`Sharing.Admin`, `Sharing.Audit`, `Sharing.Check`). */
export interface Caller {
  principalId: string;
  appRoles: readonly string[];
}

export const isAppAdmin = (c: Caller) => c.appRoles.includes("Sharing.Admin");
export const isAppAuditor = (c: Caller) => c.appRoles.includes("Sharing.Audit");
export const isAppChecker = (c: Caller) => c.appRoles.includes("Sharing.Check");
export const isAppProvisioner = (c: Caller) => c.appRoles.includes("Sharing.Provisioning");

/** Time-ordered unique ids: 9 base-36 digits of milliseconds and 10 random ones. */
export function sortableId(now: Date = new Date()): string {
  return now.getTime().toString(36).padStart(9, "0") + randomBytes(8).toString("hex").slice(0, 10);
}
