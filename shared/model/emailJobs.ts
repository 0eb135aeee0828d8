import { z } from "zod";
import { idSchema, principalRefSchema, roleSchema } from "./records.js";
import { reviewerKeySchema } from "./reviews.js";

/** The paths by which someone becomes owner or co-owner, each alerted in a sensitive environment. */
export const ownerAlertHowSchema = z.enum([
  "share",
  "ownerChange",
  "reassignment",
  "offboarding",
  "claim",
  "groupMembership",
]);
export type OwnerAlertHow = z.infer<typeof ownerAlertHowSchema>;

/**
 * Messages on the outbound email queue. Each names what to send, never the email itself: the mailer
 * reads the current state, so a revoked grant or a resent invitation is seen at send time.
 */
export const emailJobSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("invitation"),
    envId: idSchema,
    resourceId: idSchema,
    invitationId: idSchema,
    nonce: z.string().min(8).max(64),
  }),
  z.object({
    kind: z.literal("ownerAlert"),
    envId: idSchema,
    resourceId: idSchema,
    principal: principalRefSchema,
    role: roleSchema,
    actorId: idSchema,
    at: z.string(),
    alertId: z.string().min(1).max(80),
    /** How the principal became owner or co-owner (absent in jobs queued before it was added: a share). */
    how: ownerAlertHowSchema.optional(),
    /** For `groupMembership`: the group or list the user joined, which holds the role. */
    via: principalRefSchema.optional(),
  }),
  z.object({ kind: z.literal("copy"), envId: idSchema, copyId: idSchema }),
  /** An offboarding made this user primary owner of the resource: they are told once per resource and run. */
  z.object({
    kind: z.literal("newOwner"),
    envId: idSchema,
    resourceId: idSchema,
    offboardingId: idSchema,
    fromUserId: idSchema,
    toUserId: idSchema,
  }),
  z.object({ kind: z.literal("auditReport"), envId: idSchema, auditId: idSchema }),
  /** A candidate's link to claim an ownerless resource (docs/claims.md): once per claim and candidate. */
  z.object({ kind: z.literal("claim"), envId: idSchema, resourceId: idSchema, claimId: idSchema, userId: idSchema }),
  /** Nobody claimed the resource by the claim's deadline: the environment admins are told, once per claim. */
  z.object({ kind: z.literal("claimEscalation"), envId: idSchema, resourceId: idSchema, claimId: idSchema }),
  /**
   * Time-bound grants (docs/expiry.md): a reminder before the grant's expiry (`expiring`, to the
   * grantee or to the owners) or the note to the owners once it expired (`expired`). The operation
   * id names the grant, its expiresAt, the step and the audience, so a timer that runs twice sends once.
   */
  z.object({
    kind: z.literal("grantExpiry"),
    envId: idSchema,
    resourceId: idSchema,
    principal: principalRefSchema,
    role: roleSchema,
    expiresAt: z.string().datetime(),
    step: z.enum(["remind14", "remind1", "expire"]),
    audience: z.enum(["grantee", "owners"]),
  }),
  /**
   * Access reviews (docs/reviews.md, "Lifecycle"): one reviewer's link, when the instance opens
   * (`start`) and halfway through (`reminder`, only while the key has undecided items). The
   * operation id names the instance, the reviewer key, the person and the step: a rerun sends once.
   */
  z.object({
    kind: z.literal("reviewRequest"),
    envId: idSchema,
    reviewId: idSchema,
    instanceId: idSchema,
    reviewerKey: reviewerKeySchema,
    userId: idSchema,
    step: z.enum(["start", "reminder"]),
  }),
  /** A finished review instance: its counts (and apply outcomes) to the environment's admins, once. */
  z.object({ kind: z.literal("reviewSummary"), envId: idSchema, reviewId: idSchema, instanceId: idSchema }),
]);
export type EmailJob = z.infer<typeof emailJobSchema>;
