import { z } from "zod";
import { idSchema, kindSchema, principalTypeSchema } from "./records.js";

const isoTime = z.string().datetime({ offset: true });

/** The anomalies a compliance audit flags (sharing-rules.md, "Compliance audits and alerts"). */
export const auditRules = [
  "noEnabledOwner",
  "disabledConnectionOwner",
  "guestOwner",
  "ownerOutsideExpectedGroups",
  "ownerAddedSinceLastAudit",
  "disabledUserGrant",
  "tooManyOwners",
  "ownerlessResource",
  "leaverNotOffboarded",
  // Seed 004's best practices (sharing-rules.md, "Data loss prevention", "Audit rules from the best practices").
  "nonBusinessFlowShared",
  "ownerNotMember",
  "ownerWithoutMakerRole",
  // Time-bound grants (sharing-rules.md, "Time-bound access"; docs/expiry.md).
  "grantExpiringSoon",
  "guestGrantWithoutExpiry",
] as const;
export type AuditRule = (typeof auditRules)[number];
export const severities = ["high", "medium", "low"] as const;
export type Severity = (typeof severities)[number];

export const findingSchema = z.object({
  rule: z.enum(auditRules),
  severity: z.enum(severities),
  resourceId: idSchema.optional(),
  principalId: idSchema.optional(),
  detail: z.string().max(1000),
});
export type Finding = z.infer<typeof findingSchema>;

export const auditStatsSchema = z.object({
  resources: z.number().int().min(0),
  grants: z.number().int().min(0),
  pages: z.number().int().min(0),
  changesRead: z.number().int().min(0),
  findings: z.number().int().min(0),
  byRule: z.record(z.enum(auditRules), z.number().int().min(0)),
});
export type AuditStats = z.infer<typeof auditStatsSchema>;

/** Most owners an inventory entry lists (with the full count beside): one resource's entry stays far under a row's size. */
export const inventoryOwnersListed = 50;

/** One resource as the audit found it (docs/reports.md): the report's inventory. */
export const inventoryItemSchema = z.object({
  resourceId: idSchema,
  kind: kindSchema,
  displayName: z.string().max(200),
  /** Owners and co-owners (users, groups, lists), at most `inventoryOwnersListed`. */
  owners: z
    .array(z.object({ principalType: principalTypeSchema, principalId: idSchema, role: z.enum(["owner", "coOwner"]) }))
    .max(inventoryOwnersListed),
  /** How many owners and co-owners it has, listed or not. */
  ownerCount: z.number().int().min(0),
});
export type InventoryItem = z.infer<typeof inventoryItemSchema>;

/**
 * One audit run of one environment. Progress (phase, cursor, stats, how many finding chunks are
 * written) lives on this row and is written after each page's chunks, under its ETag, so a run that
 * stops (time budget, crash) continues from the last finished page, and two runners never both
 * write one audit.
 */
export const auditRunSchema = z.object({
  auditId: idSchema,
  envId: idSchema,
  trigger: z.enum(["request", "schedule"]),
  requestedBy: z.string().min(1).max(128),
  status: z.enum(["queued", "running", "done", "failed"]),
  createdAt: isoTime,
  startedAt: isoTime.optional(),
  finishedAt: isoTime.optional(),
  /** Owners added after this instant are reported (sensitive environments): the previous audit's start. */
  since: isoTime.optional(),
  phase: z.enum(["catalog", "changes", "report"]),
  cursor: z.string().max(4000).optional(),
  stats: auditStatsSchema,
  chunks: z.number().int().min(0),
  /** How many inventory chunks are written (absent on runs started before the inventory was kept). */
  inventoryChunks: z.number().int().min(0).optional(),
  /** The worst findings, kept while the run goes, for the email: never more than `topFindings`. */
  top: z.array(findingSchema).max(50),
  leaseUntil: isoTime.optional(),
  leaseId: z.string().max(64).optional(),
  attempts: z.number().int().min(0),
  reportQueuedAt: isoTime.optional(),
  error: z.string().max(1000).optional(),
});
export type AuditRun = z.infer<typeof auditRunSchema>;
