import { z } from "zod";
import {
  connectionChoiceSchema,
  connectionSchema,
  environmentSchema,
  groupSchema,
  idSchema,
  maxGroupMembers,
  maxMembersPatch,
  kindSchema,
  membershipSchema,
  principalRefSchema,
  principalTypeSchema,
  resourceSchema,
  roleSchema,
  customRoleIdSchema,
  customSecurityRoleSchema,
  maxMembershipRoles,
  tenantUserSchema,
} from "./records.js";

/** Request bodies, params and queries of the HTTP contract (`../shared/spec/api.md`). */

export const envParams = z.object({ envId: idSchema });
export const resourceParams = z.object({ envId: idSchema, resourceId: idSchema });
export const userParams = z.object({ userId: idSchema });
export const envUserParams = z.object({ envId: idSchema, userId: idSchema });
export const envGroupParams = z.object({ envId: idSchema, groupId: idSchema });
export const recordingParams = resourceParams.extend({ recordingId: idSchema });
export const revokeParams = resourceParams.extend({
  principalType: principalTypeSchema,
  principalId: idSchema,
  role: roleSchema,
});
export const accessParams = resourceParams.extend({ principalId: idSchema });
export const principalResourcesParams = z.object({ envId: idSchema, principalId: idSchema });

export const environmentBody = environmentSchema.omit({ envId: true, lastAuditAt: true }).strict();
export const userBody = tenantUserSchema.omit({ userId: true }).strict();
/** Built-in roles and the environment's custom role ids (checked against the environment's roles). */
export const membershipBody = z.object({ securityRoles: z.array(idSchema).max(maxMembershipRoles) }).strict();

export const securityRoleParams = z.object({ envId: idSchema, roleId: customRoleIdSchema });
export const securityRoleBody = customSecurityRoleSchema.omit({ envId: true, roleId: true }).strict();
export const securityRoleView = customSecurityRoleSchema;
export const groupBody = groupSchema
  .omit({ envId: true, groupId: true, buckets: true })
  .extend({
    /** The whole membership, replacing what is stored; absent leaves the members as they are. */
    memberIds: z.array(idSchema).max(maxGroupMembers).optional(),
  })
  .strict();
/** A group's members can take 50,000 ids of up to 128 characters: more than the default body limit. */
export const groupBodyMaxBytes = 8 * 1024 * 1024;

export const groupMembersBody = z
  .object({
    add: z.array(idSchema).max(maxMembersPatch).optional(),
    remove: z.array(idSchema).max(maxMembersPatch).optional(),
  })
  .strict()
  .refine((b) => (b.add?.length ?? 0) + (b.remove?.length ?? 0) > 0, {
    message: "name at least one member to add or remove",
    path: ["add"],
  });

/** Paged lists (contract v2): `?continuationToken=` in, at most 100 items a page unless `top` asks for fewer. */
export const pageQuery = z
  .object({
    continuationToken: z.string().max(4000).optional(),
    top: z.coerce.number().int().min(1).max(100).optional(),
  })
  .strict();

/** `GET .../resources` (contract v2): a page of the environment's resources, filtered by kind and owner. */
export const resourcesQuery = pageQuery.extend({ kind: kindSchema.optional(), ownerId: idSchema.optional() }).strict();

/** A page of `item`s, as every v2 list answers. */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    /** Absent on the last page. */
    continuationToken: z.string().optional(),
  });

export const environmentView = environmentSchema;
export const tenantUserView = tenantUserSchema;
export const membershipView = membershipSchema;
export const groupView = groupSchema.omit({ buckets: true });
export const resourceWithOwnersView = z.object({
  resourceId: idSchema,
  kind: kindSchema,
  displayName: z.string(),
  creatorId: idSchema,
  ownerId: idSchema,
  owners: z.array(z.object({ type: principalTypeSchema, id: idSchema, role: roleSchema })),
});

export const resourceBody = z
  .object({
    kind: kindSchema,
    displayName: z.string().trim().min(1).max(200),
    description: z.string().max(2000).optional(),
    creatorId: idSchema,
    analyticsReady: z.boolean().optional(),
    solutionAware: z.boolean().optional(),
    triggerKind: z.enum(["instant", "automated"]).optional(),
    connections: z.array(connectionSchema).max(100).optional(),
  })
  .strict();

/**
 * An instant a caller sends (ISO 8601 with a time zone), bounded in length: zod's date-time allows
 * any number of fraction digits, and every request field has a bound (test/unit/rowLimits.test.ts).
 */
export const instantPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const calendarInstant = z.iso.datetime({ offset: true });
const requestInstant = z
  .string()
  .max(35)
  // One message for a value of the wrong shape; the calendar (no 30 February) is checked after.
  .regex(instantPattern, {
    message: "must be an ISO 8601 date-time with a time zone, e.g. 2027-01-31T17:00:00Z",
    abort: true,
  })
  .refine((s) => calendarInstant.safeParse(s).success, "must be a real date and time");

export const shareBody = z
  .object({
    role: roleSchema,
    principals: z.array(principalRefSchema.strict()).min(1).max(20),
    sendInvitation: z.boolean().default(true),
    message: z.string().max(2000).optional(),
    connectionChoices: z.record(idSchema, connectionChoiceSchema).optional(),
    /** Time-bound grants: when the grants end (ISO 8601 with an offset, in the future; docs/expiry.md). */
    expiresAt: requestInstant.optional(),
  })
  .strict();

/** `PATCH .../shares/{type}/{id}/{role}`: a grant's new expiry, or null for none (where no cap applies). */
export const expiryBody = z.object({ expiresAt: requestInstant.nullable() }).strict();

export const recordingBody = z.object({ label: z.string().max(200).optional() }).strict();

export const checkBody = z
  .object({
    checks: z
      .array(
        z
          .object({
            principalId: idSchema,
            principalType: principalTypeSchema.optional(),
            resourceId: idSchema,
            action: z.string().min(1).max(100),
          })
          .strict(),
      )
      .min(1)
      .max(100),
  })
  .strict();

export const directoryQuery = z.object({ search: z.string().min(1).max(100) });
export const kindQuery = z.object({ kind: kindSchema.optional(), continuationToken: z.string().max(4000).optional() });
export const principalResourcesQuery = kindQuery.extend({ principalType: principalTypeSchema.optional() });

// Copies, reassignment, the change log and audits

export const copyParams = z.object({ copyId: idSchema });
export const auditParams = z.object({ envId: idSchema, auditId: idSchema });
/** The JSON report's inventory is paged (docs/reports.md). */
export const auditReportQuery = z.object({ inventoryContinuationToken: z.string().max(200).optional() });

export const sendCopyBody = z
  .object({
    recipientIds: z.array(idSchema).min(1).max(20),
    displayName: z.string().trim().min(1).max(200).optional(),
    description: z.string().max(2000).optional(),
  })
  .strict();

export const reassignBody = z
  .object({ fromUserId: idSchema, toUserId: idSchema, dryRun: z.boolean().default(false) })
  .strict();

export const changesQuery = z.object({
  resourceId: idSchema.optional(),
  principalId: idSchema.optional(),
  continuationToken: z.string().max(8000).optional(),
});

// Offboarding (contract v2, "Offboarding and ownership claims")

export const offboardingParams = z.object({ envId: idSchema, offboardingId: idSchema });

export const offboardBody = z
  .object({ userId: idSchema, successorId: idSchema.optional(), dryRun: z.boolean().default(false) })
  .strict();

// The seeds' remaining rules (contract v2): an in-place change of primary owner, a connection taken over.

export const connectionParams = resourceParams.extend({ connectionId: idSchema });

export const ownerBody = z.object({ ownerId: idSchema, keepPreviousOwner: z.boolean().default(true) }).strict();

export const connectionBody = z.object({ ownerId: idSchema }).strict();

export const ownerChangeView = z.object({
  resource: resourceSchema,
  previousOwnerId: idSchema,
  /** Whether the previous primary owner still holds ownership (an owner grant of a flow, a co-owner grant of a process). */
  previousOwnerKept: z.boolean(),
});

export const connectionTakeoverView = z.object({
  connection: connectionSchema,
  previousOwnerId: idSchema,
  resource: resourceSchema,
});
