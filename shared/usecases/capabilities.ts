import { randomBytes } from "node:crypto";
import type { EmailQueue } from "../ports/queue.js";
import type { SharingRepository } from "../store/repository.js";

/**
 * Everything the use cases need from the outside world. Each use case asks for the part it uses
 * (`Pick<Capabilities, ...>`); `shared/main.ts` is the one place that builds the real ones.
 */
export interface Capabilities {
  repo: SharingRepository;
  emailQueue: EmailQueue;
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

/** Time-ordered unique ids: 9 base-36 digits of milliseconds and 10 random ones. */
export function sortableId(now: Date = new Date()): string {
  return now.getTime().toString(36).padStart(9, "0") + randomBytes(8).toString("hex").slice(0, 10);
}
