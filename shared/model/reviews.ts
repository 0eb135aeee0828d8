import { z } from "zod";
import { allRoles, principalTypes, resourceKinds } from "../rules/matrix.js";
import { idSchema, principalRefSchema } from "./records.js";

/**
 * Access reviews (sharing-rules.md, "Access reviews"; api.md, "Access reviews"; docs/reviews.md):
 * a definition says which grants are reviewed and by whom; each instance snapshots the grants in
 * scope when it starts into items, one per grant, decided by the item's reviewers.
 */

const isoTime = z.string().datetime({ offset: true });

export const reviewDecisions = ["approve", "deny", "dontKnow"] as const;
export const reviewDecisionSchema = z.enum(reviewDecisions);
export type ReviewDecision = z.infer<typeof reviewDecisionSchema>;

export const reviewScopeSchema = z
  .object({
    kinds: z.array(z.enum(resourceKinds)).min(1).max(resourceKinds.length).optional(),
    roles: z.array(z.enum(allRoles)).min(1).max(allRoles.length).optional(),
    guestsOnly: z.boolean().optional(),
    principalTypes: z.array(z.enum(principalTypes)).min(1).max(principalTypes.length).optional(),
  })
  .strict();
export type ReviewScope = z.infer<typeof reviewScopeSchema>;

/** The body of `PUT .../reviews/{reviewId}`. */
export const reviewDefinitionInputSchema = z
  .object({
    displayName: z.string().trim().min(1).max(200),
    scope: reviewScopeSchema,
    reviewers: z.enum(["owners", "admins"]),
    /** Who reviews the items of a resource with no enabled owner (owners reviews); the admins when absent. */
    fallbackReviewerIds: z.array(idSchema).min(1).max(20).optional(),
    durationDays: z.number().int().min(1).max(30),
    recurrence: z
      .object({ every: z.enum(["week", "month", "quarter"]) })
      .strict()
      .optional(),
    defaultDecision: z.enum(["none", "approve", "deny"]).optional(),
    autoApply: z.boolean().optional(),
    justificationRequired: z.boolean().optional(),
  })
  .strict();
export type ReviewDefinitionInput = z.infer<typeof reviewDefinitionInputSchema>;

/** A stored definition: the input, with who wrote it and when, and the next recurring start. */
export const reviewDefinitionSchema = reviewDefinitionInputSchema.extend({
  reviewId: idSchema,
  envId: idSchema,
  createdAt: isoTime,
  updatedAt: isoTime,
  updatedBy: idSchema,
  /** Recurring reviews: when the timer starts the next instance. */
  nextStartAt: isoTime.optional(),
  lastInstanceId: idSchema.optional(),
});
export type ReviewDefinition = z.infer<typeof reviewDefinitionSchema>;

/**
 * Who reviews an item, as a key: `u.{userId}` (one of the resource's enabled owners), `fallback`
 * (any of the definition's fallback reviewers) or `admins` (any enabled SystemAdministrator of the
 * environment). A shared key keeps one index row per item however many people may decide it.
 */
export const reviewerKeySchema = z.string().regex(/^(u\.[A-Za-z0-9][A-Za-z0-9._-]{0,127}|fallback|admins)$/);
export type ReviewerKey = z.infer<typeof reviewerKeySchema>;
export const userReviewerKey = (userId: string): ReviewerKey => `u.${userId}`;

/** At most this many owners review one item (each adds two operations to a decision's transaction). */
export const maxReviewersPerItem = 40;

export const reviewCountsSchema = z.object({
  items: z.number().int().min(0),
  approve: z.number().int().min(0),
  deny: z.number().int().min(0),
  dontKnow: z.number().int().min(0),
  undecided: z.number().int().min(0),
});
export type ReviewCounts = z.infer<typeof reviewCountsSchema>;

export const reviewOutcomes = ["applied", "alreadyGone", "failed"] as const;
export const reviewOutcomeSchema = z.enum(reviewOutcomes);
export type ReviewOutcome = z.infer<typeof reviewOutcomeSchema>;

export const applyCountsSchema = z.object({
  applied: z.number().int().min(0),
  alreadyGone: z.number().int().min(0),
  failed: z.number().int().min(0),
});
export type ApplyCounts = z.infer<typeof applyCountsSchema>;

/**
 * One instance, the `run` row of its partition. `status` is the contract's; `phase` says what the
 * runner does next: `snapshot` (walking the catalog into items), `notify` (queuing the reviewers'
 * emails), `open` (deciding; reminders halfway), `remind` (queuing reminders), `complete`
 * (default decisions at the end), `apply` (revoking denied grants), `finish` (the summary and the
 * change log entry), `done`. Walk phases keep a cursor and a lease, as audits do.
 */
export const reviewInstanceSchema = z.object({
  envId: idSchema,
  reviewId: idSchema,
  instanceId: idSchema,
  status: z.enum(["inProgress", "completed", "applied"]),
  phase: z.enum(["snapshot", "notify", "open", "remind", "complete", "apply", "finish", "done"]),
  trigger: z.enum(["request", "schedule"]),
  startedBy: z.string().min(1).max(128),
  createdAt: isoTime,
  /** The instance ends (and its links stop working) at this instant: `createdAt` + `durationDays`. */
  endsAt: isoTime,
  /** Halfway: reviewers with undecided items are reminded once after this instant. */
  remindAt: isoTime,
  snapshotAt: isoTime.optional(),
  notifiedAt: isoTime.optional(),
  remindedAt: isoTime.optional(),
  completedAt: isoTime.optional(),
  appliedAt: isoTime.optional(),
  /**
   * When the instance first finished: its `review.completed` entry and the admins' summary were
   * written then. A later apply (POST .../apply) ends without sending them again.
   */
  finishedAt: isoTime.optional(),
  /** Items that took the definition's default decision at the end (the admins' summary says how many). */
  defaulted: z.number().int().min(0).optional(),
  /** The definition as it was when the instance started: later edits apply to later instances. */
  definition: reviewDefinitionSchema,
  counts: reviewCountsSchema,
  applyCounts: applyCountsSchema,
  /** Walk phases: where the walk resumes. */
  cursor: z.string().max(4000).optional(),
  leaseId: z.string().max(64).optional(),
  leaseUntil: isoTime.optional(),
  error: z.string().max(1000).optional(),
});
export type ReviewInstance = z.infer<typeof reviewInstanceSchema>;

/** What a reviewer sees of an item, kept on the item row and copied onto each reviewer's index row. */
export const reviewItemViewSchema = z.object({
  itemId: idSchema,
  resourceId: idSchema,
  kind: z.enum(resourceKinds),
  resourceName: z.string().max(400),
  principal: principalRefSchema,
  /** The principal's display name and email when the snapshot knew them. */
  principalName: z.string().max(400).optional(),
  principalEmail: z.string().max(320).optional(),
  guest: z.boolean().optional(),
  role: z.enum(allRoles),
  /** The grant's `grantedAt`: since when. */
  since: isoTime,
  grantedBy: idSchema,
  /** How the access was given: shared directly, or by an invitation the grantee accepted. */
  via: z.enum(["direct", "invitation"]),
  expiresAt: isoTime.optional(),
  decision: reviewDecisionSchema.optional(),
  decidedBy: z.string().min(1).max(128).optional(),
  decidedAt: isoTime.optional(),
  justification: z.string().max(1000).optional(),
  /** The decision was the definition's default, taken at the end for an undecided item. */
  defaulted: z.boolean().optional(),
});
export type ReviewItemView = z.infer<typeof reviewItemViewSchema>;

/** The item row (`item|{itemId}`): the view, its reviewers, and after applying, the outcome. */
export const reviewItemSchema = reviewItemViewSchema.extend({
  reviewers: z.array(reviewerKeySchema).min(1).max(maxReviewersPerItem),
  outcome: reviewOutcomeSchema.optional(),
  outcomeDetail: z.string().max(500).optional(),
});
export type ReviewItem = z.infer<typeof reviewItemSchema>;

/** The reviewer row (`reviewer|{key}`): written by the snapshot, read by the notify and remind walks. */
export const reviewerRowSchema = z.object({ reviewerKey: reviewerKeySchema });
export type ReviewerRow = z.infer<typeof reviewerRowSchema>;

/** The payload of a reviewer's link (`/api/review-pages/{token}`); the token's subject is the user. */
export const reviewLinkSchema = z.object({
  env: idSchema,
  review: idSchema,
  instance: idSchema,
  reviewer: reviewerKeySchema,
});
export type ReviewLink = z.infer<typeof reviewLinkSchema>;
