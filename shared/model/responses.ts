import { z } from "zod";
import { actionNames, privileges, type ActionName } from "../rules/matrix.js";
import { auditStatsSchema, findingSchema, inventoryItemSchema } from "./audits.js";
import { offboardingItemSchema, offboardingJobSchema, offboardingTriggerSchema } from "./offboardings.js";
import { connectionToFixSchema } from "./reassignments.js";
import {
  changeEntrySchema,
  connectionChoiceSchema,
  environmentSchema,
  grantSchema,
  groupSchema,
  idSchema,
  invitationStatusSchema,
  kindSchema,
  membershipSchema,
  principalRefSchema,
  principalTypeSchema,
  recordingSchema,
  resourceSchema,
  roleSchema,
  tenantUserSchema,
} from "./records.js";
import { scimEmailSchema, scimNameSchema, scimUrn } from "./scim.js";

/**
 * The version 1 routes' answers (`../shared/spec/api.md`), written from what the use cases return
 * today, for the OpenAPI document; handlers answer through `typedJson`, so the compiler holds each
 * answer to its schema and the e2e client holds the served document to the answers.
 */

const actionNameSchema = z.enum(actionNames as [ActionName, ...ActionName[]]);
const isoTime = z.string().datetime({ offset: true });

/** How a principal holds a role: directly, through a group or list, a custom security role, or as admin. */
const viaSchema = z.object({
  role: z.union([roleSchema, z.literal("admin"), z.literal("securityRole.share")]),
  through: z.union([
    z.literal("direct"),
    z.literal("admin"),
    principalRefSchema,
    z.object({ type: z.literal("securityRole"), id: idSchema }),
  ]),
});

/** `GET /api/actions`: the rules' matrix. */
export const actionsCatalogView = z.object({
  privileges: z.array(z.enum(privileges)),
  kinds: z.array(
    z.object({
      kind: kindSchema,
      roles: z.array(roleSchema),
      grantableRoles: z.array(roleSchema),
      /** Role to the verb that manages grants of it. */
      manageVerbs: z.partialRecord(roleSchema, z.string()),
      actions: z.array(
        z.object({
          /** `{kind}.{verb}`. */
          action: z.string(),
          allowedFor: z.array(z.string()),
          allowedForPrivileges: z.array(z.enum(privileges)),
        }),
      ),
    }),
  ),
});

export const healthView = z.object({ status: z.literal("ok") });

/** `GET /api/openapi.json`: an OpenAPI 3.1 document (checked by its own validator in the tests). */
export const openApiView = z
  .object({ openapi: z.string(), info: z.object({}).loose(), paths: z.record(z.string(), z.unknown()) })
  .loose();

export const changesPage = z.object({
  items: z.array(changeEntrySchema.omit({ changeId: true })),
  continuationToken: z.string().optional(),
});

export const checkResults = z.object({
  results: z.array(z.object({ allowed: z.boolean(), reason: z.string() })),
});

export const effectiveAccessView = z.object({
  principalId: idSchema,
  roles: z.array(roleSchema),
  actions: z.array(actionNameSchema),
  via: z.array(viaSchema),
  limitation: z.string().optional(),
  connectionChoices: z.record(idSchema, connectionChoiceSchema).optional(),
});

export const auditReportView = z.object({
  auditId: idSchema,
  envId: idSchema,
  trigger: z.enum(["request", "schedule"]),
  status: z.enum(["queued", "running", "done", "failed"]),
  createdAt: isoTime,
  startedAt: isoTime.optional(),
  finishedAt: isoTime.optional(),
  stats: auditStatsSchema,
  error: z.string().optional(),
  findings: z.array(findingSchema),
  /** Paged: `?inventoryContinuationToken=` for the next page (docs/reports.md). */
  inventory: z.object({ items: z.array(inventoryItemSchema), continuationToken: z.string().optional() }),
});

/** `Accept: text/csv`: the findings, one a line under a header line. */
export const findingsCsvSchema = z.string();
/** The invitation pages (`text/html`). */
export const htmlPage = z.string();

export const auditAccepted = z.object({ auditId: idSchema });

export const copyView = z.object({
  copyId: idSchema,
  envId: idSchema,
  sentBy: idSchema,
  displayName: z.string(),
  description: z.string().optional(),
  triggerKind: z.enum(["instant", "automated"]).optional(),
  connectors: z.array(z.string()),
  createdAt: isoTime,
  instantiatedResourceId: idSchema.optional(),
});

export const copiesSent = z.object({
  copies: z.array(z.object({ copyId: idSchema, recipientId: idSchema })),
});

/**
 * A resource as its caller sees it: the whole registration for those who see its content, else the
 * summary (ids, kind, name, owner, creator) only.
 */
export const resourceView = z.object({
  resource: resourceSchema
    .partial()
    .required({ envId: true, resourceId: true, kind: true, displayName: true, ownerId: true, creatorId: true }),
  roles: z.array(roleSchema),
  allowedActions: z.array(actionNameSchema),
  via: z.array(viaSchema),
});

/**
 * `GET .../resources/{id}` for a flow's run-only user (who holds no other role or right that shows
 * more): what they need to run it and nothing else, no owners, creator, grants, invitations or run
 * history (seed 004: run-only users "cannot view the flow"). `view: "runOnly"` tells it apart.
 */
export const runOnlyResourceView = z.object({
  view: z.literal("runOnly"),
  resource: z.object({
    envId: idSchema,
    resourceId: idSchema,
    kind: z.literal("cloudFlow"),
    displayName: z.string(),
    triggerKind: z.enum(["instant", "automated"]).optional(),
    /** The connections "provided by run-only user": the caller supplies their own for each. */
    connectionsToProvide: z.array(z.object({ id: idSchema, connector: z.string() })),
  }),
  roles: z.array(roleSchema),
  allowedActions: z.array(actionNameSchema),
  via: z.array(viaSchema),
});

/** What `GET .../resources/{id}` answers: exactly one of the two views (a `oneOf` in the document). */
export const resourceReadView = z.xor([resourceView, runOnlyResourceView]);

const connectionToFixView = connectionToFixSchema.extend({ resolveWith: z.string() });

export const offboardingView = offboardingJobSchema
  .pick({
    offboardingId: true,
    envId: true,
    userId: true,
    status: true,
    successorId: true,
    actorId: true,
    startedAt: true,
    updatedAt: true,
    finishedAt: true,
    resourcesVisited: true,
  })
  .extend({
    trigger: offboardingTriggerSchema,
    items: z.array(offboardingItemSchema.extend({ connectionsToFix: z.array(connectionToFixView) })),
    continuationToken: z.string().optional(),
  });

export const offboardResult = z.object({
  offboardingId: idSchema.optional(),
  status: z.enum(["done", "running", "dryRun"]),
  userId: idSchema,
  revoked: z.array(z.object({ resourceId: idSchema, kind: kindSchema, role: roleSchema })),
  transferred: z.array(z.object({ resourceId: idSchema, kind: kindSchema, to: idSchema, via: z.string() })),
  ownerless: z.array(z.object({ resourceId: idSchema, kind: kindSchema, displayName: z.string() })),
  needsCopy: z.array(z.object({ resourceId: idSchema, kind: kindSchema, displayName: z.string(), reason: z.string() })),
  connectionsToFix: z.array(connectionToFixView),
  resourcesVisited: z.number().int().min(0),
  truncated: z.boolean().optional(),
});

export const reassignResult = z.object({
  status: z.enum(["done", "running", "dryRun"]),
  jobId: idSchema.optional(),
  reassigned: z.array(
    z.object({
      resourceId: idSchema,
      kind: kindSchema,
      displayName: z.string(),
      fromUserId: idSchema,
      toUserId: idSchema,
      creatorKeptAsOwner: z.boolean(),
    }),
  ),
  needsCopy: z.array(z.object({ resourceId: idSchema, kind: kindSchema, displayName: z.string(), reason: z.string() })),
  connectionsToFix: z.array(connectionToFixView),
  resourcesScanned: z.number().int().min(0),
});

export const membersPatched = z.object({ added: z.array(idSchema), removed: z.array(idSchema) });

export const principalResourcesPage = z.object({
  resources: z.array(
    z.object({
      resourceId: idSchema,
      kind: kindSchema,
      displayName: z.string(),
      roles: z.array(roleSchema),
      via: z.array(
        z.object({
          role: z.union([roleSchema, z.literal("admin")]),
          through: z.union([z.literal("direct"), z.literal("admin"), principalRefSchema]),
        }),
      ),
    }),
  ),
  continuationToken: z.string().optional(),
});

export const environmentResult = environmentSchema;
export const tenantUserResult = tenantUserSchema;
export const membershipResult = membershipSchema;
/** A group as `putGroup` answers it: without its bucket list, with the members when the request named them. */
export const groupResult = groupSchema.omit({ buckets: true }).extend({ memberIds: z.array(idSchema).optional() });
export const recordingView = recordingSchema;

export const invitationView = z.object({
  id: idSchema,
  principalId: idSchema,
  principalType: principalTypeSchema,
  role: roleSchema,
  status: invitationStatusSchema,
  createdAt: isoTime,
  expiresAt: isoTime,
  sentAt: isoTime.optional(),
  acceptedAt: isoTime.optional(),
});

export const invitationResent = z.object({ invitation: invitationView });

export const sharedWithView = z.object({
  resourceId: idSchema,
  kind: kindSchema,
  creatorId: idSchema,
  ownerId: idSchema,
  grants: z.array(grantSchema.extend({ isCreator: z.boolean(), isPrimaryOwner: z.boolean() })),
  invitations: z.array(invitationView),
});

const grantRef = z.object({ principalType: principalTypeSchema, principalId: idSchema, role: roleSchema });

export const revokeResult = z.object({
  revoked: grantRef,
  warnings: z.array(z.string()),
  connectionsToFix: z.array(connectionToFixView).optional(),
});

/** `PATCH .../shares/{type}/{id}/{role}`: the grant with its new expiry (none: no `expiresAt`). */
export const expiryResult = z.object({ grant: grantSchema });

export const shareResult = z.object({
  grants: z.array(grantSchema),
  invitations: z.array(z.object({ id: idSchema, principalId: idSchema, status: invitationStatusSchema })),
  warnings: z.array(z.string()),
});

export const directoryMatches = z.object({
  items: z.array(
    z.object({
      type: principalTypeSchema,
      id: idSchema,
      displayName: z.string(),
      email: z.string().optional(),
      userType: z.enum(["member", "guest"]).optional(),
      enabled: z.boolean().optional(),
      isMember: z.boolean().optional(),
    }),
  ),
});

// SCIM 2.0 resources (RFC 7643) as the SCIM use cases build them.

const scimMeta = (resourceType: z.ZodType<string>) =>
  z.object({
    resourceType,
    created: z.string().optional(),
    lastModified: z.string().optional(),
    location: z.string(),
  });

export const scimUserView = z.object({
  schemas: z.array(z.string()),
  id: z.string(),
  externalId: z.string().optional(),
  userName: z.string(),
  displayName: z.string(),
  name: scimNameSchema.optional(),
  emails: z.array(scimEmailSchema),
  userType: z.string(),
  active: z.boolean(),
  meta: scimMeta(z.literal("User")),
});

export const scimGroupView = z.object({
  schemas: z.array(z.string()),
  id: z.string(),
  externalId: z.string().optional(),
  displayName: z.string(),
  members: z.array(z.object({ value: z.string(), $ref: z.string() })).optional(),
  meta: scimMeta(z.literal("Group")),
});

export const scimListOf = <T extends z.ZodType>(item: T) =>
  z.object({
    schemas: z.array(z.string()).describe(scimUrn.listResponse),
    totalResults: z.number().int().min(0),
    startIndex: z.number().int().min(1),
    itemsPerPage: z.number().int().min(0),
    Resources: z.array(item),
  });

export const scimResourceTypeView = z.object({
  schemas: z.array(z.string()),
  id: z.string(),
  name: z.string(),
  endpoint: z.string(),
  description: z.string(),
  schema: z.string(),
  meta: scimMeta(z.string()),
});

/** A Schema resource (RFC 7643 §7): its attribute definitions are nested and described loosely here. */
export const scimSchemaView = z.object({
  schemas: z.array(z.string()),
  id: z.string(),
  name: z.string(),
  description: z.string(),
  attributes: z.array(z.record(z.string(), z.unknown())),
  meta: scimMeta(z.string()),
});

const supported = z.object({ supported: z.boolean() });

export const scimServiceProviderConfigView = z.object({
  schemas: z.array(z.string()),
  patch: supported,
  bulk: supported.extend({ maxOperations: z.number().int(), maxPayloadSize: z.number().int() }),
  filter: supported.extend({ maxResults: z.number().int() }),
  changePassword: supported,
  sort: supported,
  etag: supported,
  authenticationSchemes: z.array(
    z.object({ type: z.string(), name: z.string(), description: z.string(), primary: z.boolean() }),
  ),
  meta: scimMeta(z.string()),
});

export const scimUserList = scimListOf(scimUserView);
export const scimGroupList = scimListOf(scimGroupView);
export const scimResourceTypeList = scimListOf(scimResourceTypeView);
export const scimSchemaList = scimListOf(scimSchemaView);
