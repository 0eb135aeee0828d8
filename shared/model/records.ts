import { z } from "zod";
import { allRoles, principalTypes, privileges, resourceKinds } from "../rules/matrix.js";
import { dlpPolicySchema } from "./dlp.js";

/**
 * Ids of environments, users, groups, resources and the like: letters, digits, `.`, `_`, `-`, up to
 * 128 characters (Entra object ids and Dataverse ids are GUIDs). Table keys are built from them with
 * `|` separators, so nothing in an id can reach into another key or an OData filter.
 */
export const idSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
    "must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
  );
export type Id = z.infer<typeof idSchema>;

export const kindSchema = z.enum(resourceKinds);
export const roleSchema = z.enum(allRoles);
export const principalTypeSchema = z.enum(principalTypes);
export const securityRoleSchema = z.enum(["SystemAdministrator", "EnvironmentMaker", "BasicUser"]);
export type SecurityRole = z.infer<typeof securityRoleSchema>;

// Names end up in search row keys, which travel in request URLs: a lone surrogate can't be encoded there.
const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((s) => !/[\uD800-\uDFFF]/u.test(s), "must be well-formed Unicode (no lone surrogates)");
const isoTime = z.string().datetime({ offset: true });

/** Whether an id names a built-in role, in any case: a custom role may not pass for one. */
export const isBuiltInRoleName = (id: string) =>
  securityRoleSchema.options.some((r) => r.toLowerCase() === id.toLowerCase());

/**
 * A custom security role's id (sharing-rules.md, "Custom security roles"): an id that is not a
 * built-in role's name, so a membership's `securityRoles` says unambiguously which is which.
 */
export const customRoleIdSchema = idSchema.refine(
  (id) => !isBuiltInRoleName(id),
  `must not be a built-in role's name (${securityRoleSchema.options.join(", ")})`,
);

/** What a custom role allows, per kind; `share` is the one privilege modelled. */
export const rolePrivilegesSchema = z
  .object({
    processMining: z.array(z.enum(privileges)).max(privileges.length).optional(),
    taskMining: z.array(z.enum(privileges)).max(privileges.length).optional(),
    cloudFlow: z.array(z.enum(privileges)).max(privileges.length).optional(),
  })
  .strict();
export type RolePrivileges = z.infer<typeof rolePrivilegesSchema>;

export const customSecurityRoleSchema = z.object({
  envId: idSchema,
  roleId: customRoleIdSchema,
  displayName: text(200),
  privileges: rolePrivilegesSchema,
});
export type CustomSecurityRole = z.infer<typeof customSecurityRoleSchema>;

/**
 * The most custom roles an environment holds: their privileges are one row read beside every check
 * (`keys.rolePrivilegesRk`), which stays small this way.
 */
export const maxCustomSecurityRoles = 100;
/** The most roles one membership holds: the built-in ones and custom ones. */
export const maxMembershipRoles = 20;

export const environmentSchema = z.object({
  envId: idSchema,
  displayName: text(200),
  isDefault: z.boolean().default(false),
  sensitive: z.boolean().default(false),
  expectedOwnerGroupIds: z.array(idSchema).max(100).default([]),
  maxOwners: z.number().int().min(1).max(1000).optional(),
  sovereignCloud: z.boolean().default(false),
  lastAuditAt: isoTime.optional(),
  /** Offboard a leaver at once (sharing-rules.md, "Owners never vanish"); otherwise the audit only flags them. */
  autoOffboard: z.boolean().optional(),
  /** The last link of the successor chain: who receives what a leaver owned when nobody nearer can. */
  defaultSuccessorId: idSchema.optional(),
  /** Days an ownerless resource waits for a claim before its admins are told (claims: stored only for now). */
  claimDays: z.number().int().min(1).max(365).optional(),
  /** The longest a grant may last, in days (time-bound grants, docs/expiry.md). */
  maxGrantDays: z.number().int().min(1).max(3650).optional(),
  /** The longest a guest's grant may last, in days (docs/expiry.md). */
  guestMaxGrantDays: z.number().int().min(1).max(3650).optional(),
  /** Data loss prevention: connectors classified business, non-business or blocked (shared/rules/dlp.ts). */
  dlp: dlpPolicySchema.optional(),
});
export type Environment = z.infer<typeof environmentSchema>;

export const tenantUserSchema = z.object({
  userId: idSchema,
  email: z.string().email().max(254),
  displayName: text(200),
  userType: z.enum(["member", "guest"]),
  enabled: z.boolean(),
  license: z.enum(["free", "paid", "seeded"]),
});
export type TenantUser = z.infer<typeof tenantUserSchema>;

export const membershipSchema = z.object({
  envId: idSchema,
  userId: idSchema,
  /** Built-in roles and custom role ids of the environment (`customSecurityRoleSchema`). */
  securityRoles: z.array(idSchema).max(maxMembershipRoles),
  /** How the user joined: put by an admin, or added by sharing (seed 004). */
  addedBy: z.enum(["admin", "sharing"]).default("admin"),
  /**
   * Deactivated by provisioning (SCIM `active: false`): the member stays listed, and has no access in
   * the environment, as a user disabled in the tenant directory has none anywhere.
   */
  suspended: z.boolean().optional(),
});
export type Membership = z.infer<typeof membershipSchema>;

/** A group's or list's own row; its members are rows of their own (`gm|` and `ug|`, keys.ts). */
export const groupSchema = z.object({
  envId: idSchema,
  groupId: idSchema,
  displayName: text(200),
  kind: z.enum(["securityGroup", "sharePointList"]),
  /**
   * The membership buckets that may hold members (`keys.bucketOf`), sorted: set before members are
   * written there and never cleared, so reading these finds every member, and a small group costs a
   * few queries rather than one per bucket.
   */
  buckets: z
    .array(z.string().regex(/^[0-9a-f]{2}$/))
    .max(256)
    .optional(),
});
export type Group = z.infer<typeof groupSchema>;

/** The most members a group or list may hold (contract v2, "Groups of any size"). */
export const maxGroupMembers = 50_000;
/** The most ids one `PATCH .../members` may add, and remove. */
export const maxMembersPatch = 1_000;

export const groupRef = (g: Pick<Group, "groupId" | "kind">): { type: "group" | "sharePointList"; id: string } => ({
  type: g.kind === "sharePointList" ? "sharePointList" : "group",
  id: g.groupId,
});

export const connectionSchema = z.object({
  id: idSchema,
  connector: text(100),
  ownerId: idSchema,
  usage: z.enum(["embedded", "other"]),
});
export type Connection = z.infer<typeof connectionSchema>;

export const resourceSchema = z.object({
  envId: idSchema,
  resourceId: idSchema,
  kind: kindSchema,
  displayName: text(200),
  description: z.string().max(2000).optional(),
  creatorId: idSchema,
  /** The primary owner: the creator until a reassignment. */
  ownerId: idSchema,
  analyticsReady: z.boolean().optional(),
  solutionAware: z.boolean().optional(),
  triggerKind: z.enum(["instant", "automated"]).optional(),
  connections: z.array(connectionSchema).max(100).optional(),
  /** Cloud flows made from a copy: the template they came from. */
  fromCopyId: idSchema.optional(),
  createdAt: isoTime,
  updatedAt: isoTime,
});
export type Resource = z.infer<typeof resourceSchema>;

export const principalRefSchema = z.object({ type: principalTypeSchema, id: idSchema });
export type PrincipalRef = z.infer<typeof principalRefSchema>;

export const connectionChoiceSchema = z.enum(["embedded", "invoker"]);

export const grantSchema = z.object({
  principalType: principalTypeSchema,
  principalId: idSchema,
  role: roleSchema,
  grantedBy: idSchema,
  grantedAt: isoTime,
  /** Run-only grants: for each connection, whose credentials a run uses. */
  connectionChoices: z.record(idSchema, connectionChoiceSchema).optional(),
  /** The invitation sent with this grant: an invitation works only while its own grant stands. */
  invitationId: idSchema.optional(),
  /** Time-bound grants: from this instant on the grant reads as absent, swept or not (docs/expiry.md). */
  expiresAt: isoTime.optional(),
});
export type Grant = z.infer<typeof grantSchema>;

/** Whether a grant (or an index row's role) has expired at `now`: exact at the instant, before any sweep. */
export const isExpired = (expiresAt: string | undefined, now: Date) =>
  expiresAt !== undefined && Date.parse(expiresAt) <= now.getTime();

export const invitationStatusSchema = z.enum(["queued", "sent", "failed", "accepted", "expired", "revoked"]);
export type InvitationStatus = z.infer<typeof invitationStatusSchema>;

export const invitationSchema = z.object({
  invitationId: idSchema,
  principalType: principalTypeSchema,
  principalId: idSchema,
  role: roleSchema,
  status: invitationStatusSchema,
  /** Changes on every resend: tokens carry it, so an older token stops working. */
  nonce: z.string().min(8).max(64),
  sharedBy: idSchema,
  message: z.string().max(2000).optional(),
  createdAt: isoTime,
  expiresAt: isoTime,
  sentAt: isoTime.optional(),
  acceptedAt: isoTime.optional(),
  failedReason: z.string().max(500).optional(),
});
export type Invitation = z.infer<typeof invitationSchema>;

export const recordingSchema = z.object({
  recordingId: idSchema,
  addedBy: idSchema,
  label: z.string().max(200).optional(),
  addedAt: isoTime,
});
export type Recording = z.infer<typeof recordingSchema>;

/** An ownership grant's mirror row (`keys.ownerRk`); `held` false once revoked. */
export const ownerRowSchema = z.object({
  principalType: principalTypeSchema,
  principalId: idSchema,
  role: roleSchema,
  held: z.boolean(),
  /** The ownership grant's expiry, so the resources listing drops it at the instant (docs/expiry.md). */
  expiresAt: isoTime.optional(),
});
export type OwnerRow = z.infer<typeof ownerRowSchema>;

export const changeActionSchema = z.enum([
  "grant",
  "revoke",
  "invitation.queued",
  "invitation.resent",
  "invitation.accepted",
  "copy.sent",
  "copy.instantiated",
  "reassign",
  "resource.registered",
  "resource.updated",
  "resource.deleted",
  "member.added",
  "offboard",
  // Directory changes (contract v2): the environment, a member's profile, memberships and groups.
  "environment.created",
  "environment.updated",
  "user.updated",
  "membership.added",
  "membership.updated",
  "membership.suspended",
  "membership.restored",
  "membership.removed",
  "group.created",
  "group.updated",
  "group.members",
  // Provisioning secrets of the environment's SCIM base (never the secret itself).
  "scimToken.created",
  "scimToken.revoked",
  // The seeds' remaining rules (contract v2): an in-place change of primary owner, a connection taken over.
  "owner.changed",
  "connection.takenOver",
  // Custom security roles (contract v2, "The seeds' remaining rules").
  "securityRole.created",
  "securityRole.updated",
  // Webhook subscriptions (contract v2, "Events for integrations"): never a secret, only that it changed.
  "webhook.created",
  "webhook.updated",
  "webhook.deleted",
  "webhook.rotated",
  "webhook.disabled",
  // A compliance audit finished (contract v2, "Events for integrations"): one entry per audit, with its counts.
  "audit.completed",
  // An ownerless resource claimed by one of its candidates (docs/claims.md): raises sharing.owner.changed.
  "owner.claimed",
  // Time-bound grants (contract v2): an expiry set or changed, a reminder before it, the removal at it (by `system`).
  "expiry.changed",
  "expiring",
  "expire",
  // Access reviews (docs/reviews.md): a denied grant revoked when a review applies (by its reviewer, or
  // `system` for a default decision), and one entry per finished review instance.
  "review-deny",
  "review.completed",
]);

export const changeEntrySchema = z.object({
  changeId: z.string().min(1).max(80),
  at: isoTime,
  actorId: idSchema,
  action: changeActionSchema,
  resourceId: idSchema.optional(),
  principal: principalRefSchema.optional(),
  role: roleSchema.optional(),
  detail: z.string().max(2000),
  /** `group.members`: how many members one request added and removed (one entry, not one per member). */
  counts: z.object({ added: z.number().int().min(0), removed: z.number().int().min(0) }).optional(),
  /** `audit.completed`: the audit, so a reader (and the webhook event's subject) can fetch its report. */
  auditId: idSchema.optional(),
  /** `review-deny` and `review.completed`: the review and its instance (`GET .../reviews/{reviewId}/instances/{instanceId}`). */
  reviewId: idSchema.optional(),
  instanceId: idSchema.optional(),
});
export type ChangeEntry = z.infer<typeof changeEntrySchema>;

/**
 * One row of a principal's index: a resource they reach through one path (directly, or through one
 * group or list) with the roles that path gives. One row per path, so a group's fan-out writes or
 * deletes exactly one row per member without reading it first.
 */
export const indexEntrySchema = z.object({
  resourceId: z.string(),
  roles: z.array(roleSchema).min(1).max(5),
  through: z.union([z.literal("direct"), principalRefSchema]),
  kind: kindSchema,
  displayName: z.string(),
  /** Time-bound grants: each expiring role's `expiresAt`; the listing drops a role from that instant. */
  expiries: z.partialRecord(roleSchema, isoTime).optional(),
});
export type IndexEntry = z.infer<typeof indexEntrySchema>;
