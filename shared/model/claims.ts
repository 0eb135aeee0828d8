import { z } from "zod";
import { idSchema, roleSchema } from "./records.js";

const isoTime = z.string().datetime({ offset: true });

/** At most this many candidates are emailed a claim link (sharing-rules.md, "Owners never vanish"). */
export const maxClaimCandidates = 10;
/** `claimDays` when the environment sets none. */
export const defaultClaimDays = 7;

/** Someone who may claim an ownerless resource: a co-owner or contributor when the claim started. */
export const claimCandidateSchema = z.object({
  userId: idSchema,
  /** The grant that made them a candidate; they must still hold one to claim. */
  role: roleSchema,
  grantedAt: isoTime,
});
export type ClaimCandidate = z.infer<typeof claimCandidateSchema>;

/**
 * The resource's current ownership claim: the `claim` row of its `Resources` partition, so the
 * accept that ends it commits with the new owner under the meta row's ETag. A later ownerless
 * episode replaces it (a new `claimId`), which kills the older links.
 */
export const claimSchema = z.object({
  claimId: idSchema,
  envId: idSchema,
  resourceId: idSchema,
  status: z.enum(["open", "claimed"]),
  /** What found the resource ownerless. */
  origin: z.enum(["offboarding", "audit"]),
  /** The `ownerId` whose place is vacant (the leaver). */
  vacantOwnerId: idSchema,
  candidates: z.array(claimCandidateSchema).max(maxClaimCandidates),
  createdAt: isoTime,
  /** `createdAt` + `claimDays`: the admins are emailed when nobody has claimed it by then. */
  deadline: isoTime,
  claimedBy: idSchema.optional(),
  claimedAt: isoTime.optional(),
});
export type Claim = z.infer<typeof claimSchema>;

/** A claim's row in the deadline index (`Offboardings`, partition `claims|due`), read by the escalation timer. */
export const claimDueSchema = z.object({ envId: idSchema, resourceId: idSchema, claimId: idSchema, deadline: isoTime });
export type ClaimDue = z.infer<typeof claimDueSchema>;
