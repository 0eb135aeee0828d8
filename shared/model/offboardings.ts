import { z } from "zod";
import { connectionToFixSchema } from "./reassignments.js";
import { idSchema, kindSchema, roleSchema } from "./records.js";

const isoTime = z.string().datetime({ offset: true });

/** What made an offboarding start: an admin's request, or a leaver seen in the directory (automatic runs). */
export const offboardingTriggerSchema = z.enum(["request", "disabled", "removed", "deactivated"]);
export type OffboardingTrigger = z.infer<typeof offboardingTriggerSchema>;

/**
 * One offboarding run of one user in one environment. The user's `current` row names the run, so
 * re-posting (or the queue message continuing an automatic run) finds it while it is running and
 * continues after `cursor`: the page of the leaver's own index rows after the last one finished.
 */
export const offboardingJobSchema = z.object({
  envId: idSchema,
  userId: idSchema,
  offboardingId: idSchema,
  status: z.enum(["running", "done"]),
  trigger: offboardingTriggerSchema,
  /** The named successor; absent when the chain decides per resource (always, for automatic runs). */
  successorId: idSchema.optional(),
  actorId: idSchema,
  cursor: z.string().max(4000).optional(),
  pagesDone: z.number().int().min(0),
  resourcesVisited: z.number().int().min(0),
  startedAt: isoTime,
  updatedAt: isoTime,
  /** Set before the summary entry is written, so a resumed last page writes the same entry again, not a second one. */
  finishedAt: isoTime.optional(),
  leaseUntil: isoTime.optional(),
  leaseId: z.string().max(64).optional(),
});
export type OffboardingJob = z.infer<typeof offboardingJobSchema>;

/** Which link of the successor chain gave a resource its new primary owner (sharing-rules.md, "Owners never vanish"). */
export const successorViaSchema = z.enum(["named", "coOwner", "defaultSuccessor"]);
export type SuccessorVia = z.infer<typeof successorViaSchema>;

/**
 * What a run does to one resource, written before the resource's own transaction (as a
 * reassignment's items are), so a run that stops between the two still reports it when resumed.
 */
export const offboardingItemSchema = z.object({
  resourceId: idSchema,
  kind: kindSchema,
  displayName: z.string(),
  /** The leaver's roles on the resource, every one revoked. */
  revoked: z.array(roleSchema).max(5),
  /**
   * `transferred`: the leaver was primary owner and `to` is now; `ownerless`: primary owner with no
   * successor; `needsCopy`: primary owner of a non-solution-aware flow; `revoked`: grants only.
   */
  outcome: z.enum(["transferred", "ownerless", "needsCopy", "revoked"]),
  to: idSchema.optional(),
  via: successorViaSchema.optional(),
  connectionsToFix: z.array(connectionToFixSchema).max(100),
});
export type OffboardingItem = z.infer<typeof offboardingItemSchema>;
