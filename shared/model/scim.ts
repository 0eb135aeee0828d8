import { z } from "zod";
import { idSchema } from "./records.js";

/** The SCIM 2.0 schema URNs this service speaks (RFC 7643, RFC 7644). */
export const scimUrn = {
  user: "urn:ietf:params:scim:schemas:core:2.0:User",
  group: "urn:ietf:params:scim:schemas:core:2.0:Group",
  listResponse: "urn:ietf:params:scim:api:messages:2.0:ListResponse",
  patchOp: "urn:ietf:params:scim:api:messages:2.0:PatchOp",
  error: "urn:ietf:params:scim:api:messages:2.0:Error",
  serviceProviderConfig: "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig",
  resourceType: "urn:ietf:params:scim:schemas:core:2.0:ResourceType",
  schema: "urn:ietf:params:scim:schemas:core:2.0:Schema",
} as const;

export const scimContentType = "application/scim+json";

// Strings as Entra sends them are kept exactly; these bounds keep a row far inside the storage limits.
const str = (max: number) => z.string().max(max);
const isoTime = z.string().datetime({ offset: true });

export const scimNameSchema = z.object({
  formatted: str(400).optional(),
  givenName: str(200).optional(),
  familyName: str(200).optional(),
});

export const scimEmailSchema = z.object({
  value: str(254),
  type: str(50).optional(),
  primary: z.boolean().optional(),
});

/**
 * Entra has sent booleans as the strings "True" and "False"; both forms are accepted, any case, and
 * kept as booleans.
 */
export const scimBoolean = z.union([
  z.boolean(),
  z
    .string()
    .regex(/^(true|false)$/i, "must be true or false")
    .transform((s) => s.toLowerCase() === "true"),
]);

/**
 * What this service keeps of a provisioned user beside the tenant profile, per environment: the
 * attributes exactly as the client sent them (the profile holds `userName` as the email, and the
 * display name and user type in its own words).
 */
export const scimUserRecordSchema = z.object({
  userId: idSchema,
  userName: str(254),
  externalId: str(256).optional(),
  displayName: str(200).optional(),
  name: scimNameSchema.optional(),
  emails: z.array(scimEmailSchema).max(10).optional(),
  userType: str(50).optional(),
  createdAt: isoTime,
  updatedAt: isoTime,
});
export type ScimUserRecord = z.infer<typeof scimUserRecordSchema>;

/** What this service keeps of a provisioned group beside the group's own row. */
export const scimGroupRecordSchema = z.object({
  groupId: idSchema,
  externalId: str(256).optional(),
  createdAt: isoTime,
  updatedAt: isoTime,
});
export type ScimGroupRecord = z.infer<typeof scimGroupRecordSchema>;

/** A lookup row: from an `externalId` to the resource that holds it, with the value to compare. */
export const scimLookupSchema = z.object({ id: idSchema, value: str(256) });

/** The User resource as a client sends it to POST or PUT; attributes not listed are ignored (RFC 7644 §3.3). */
export const scimUserBody = z.object({
  schemas: z.array(z.string().max(200)).max(10).optional(),
  userName: z.string().trim().min(1).max(254),
  externalId: str(256).optional(),
  displayName: str(200).optional(),
  name: scimNameSchema.optional(),
  emails: z.array(scimEmailSchema).max(10).optional(),
  userType: str(50).optional(),
  active: scimBoolean.optional(),
});
export type ScimUserBody = z.infer<typeof scimUserBody>;

export const scimMemberRefSchema = z.object({ value: idSchema, display: z.string().max(400).optional() });

/** The Group resource as a client sends it to POST or PUT. */
export const scimGroupBody = z.object({
  schemas: z.array(z.string().max(200)).max(10).optional(),
  displayName: z.string().trim().min(1).max(200),
  externalId: str(256).optional(),
  members: z.array(scimMemberRefSchema).max(50_000).optional(),
});
export type ScimGroupBody = z.infer<typeof scimGroupBody>;

/** RFC 7644 §3.5.2: `op` in any letter case (Entra sends `Add`, `Replace`, `Remove`). */
export const scimPatchOperationSchema = z.object({
  op: z
    .string()
    .regex(/^(add|replace|remove)$/i, "must be add, replace or remove")
    .transform((s) => s.toLowerCase() as "add" | "replace" | "remove"),
  path: z.string().min(1).max(1000).optional(),
  value: z.unknown().optional(),
});
export type ScimPatchOperation = z.infer<typeof scimPatchOperationSchema>;

export const scimPatchBody = z.object({
  schemas: z.array(z.string().max(200)).max(10).optional(),
  Operations: z.array(scimPatchOperationSchema).min(1).max(1000),
});
export type ScimPatchBody = z.infer<typeof scimPatchBody>;

/** Query of list requests (RFC 7644 §3.4.2): 1-based `startIndex`, `count` capped at `maxScimPage`. */
export const maxScimPage = 100;
export const scimListQuery = z.object({
  filter: z.string().max(2000).optional(),
  startIndex: z.coerce.number().int().optional(),
  count: z.coerce.number().int().optional(),
  attributes: z.string().max(1000).optional(),
  excludedAttributes: z.string().max(1000).optional(),
});
export type ScimListQuery = z.infer<typeof scimListQuery>;

export const scimGetQuery = scimListQuery.pick({ attributes: true, excludedAttributes: true });

export const scimEnvParams = z.object({ envId: idSchema });
/** Ids in paths are checked by the use cases, so an unknown or malformed id is a SCIM 404, not a 400. */
export const scimResourceParams = z.object({ envId: idSchema, id: z.string().max(200) });

// Provisioning secrets (long-lived bearers for a SCIM client such as Entra's provisioning service).

/** Tokens an environment holds at once, expired ones included until they are revoked. */
export const maxScimTokens = 20;
export const defaultScimTokenDays = 365;
export const maxScimTokenDays = 730;

/** A provisioning secret as stored: the SHA-256 of its random part, never the secret itself. */
export const scimTokenRecordSchema = z.object({
  tokenId: idSchema,
  envId: idSchema,
  description: str(200).optional(),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: isoTime,
  createdBy: idSchema,
  expiresAt: isoTime,
  /** Written at most once an hour per token (`lastUsedInterval`), so it can be up to an hour behind. */
  lastUsedAt: isoTime.optional(),
});
export type ScimTokenRecord = z.infer<typeof scimTokenRecordSchema>;

export const scimTokenParams = z.object({ envId: idSchema, tokenId: z.string().max(200) });

export const scimTokenBody = z
  .object({
    description: z.string().trim().max(200).optional(),
    expiresInDays: z.number().int().min(1).max(maxScimTokenDays).optional(),
  })
  .strict();
export type ScimTokenBody = z.infer<typeof scimTokenBody>;

/** A token as listed: everything but the hash. */
export const scimTokenView = scimTokenRecordSchema.omit({ hash: true, envId: true }).extend({
  /** Past `expiresAt`: refused, and held (counting towards `maxScimTokens`) until revoked. */
  expired: z.boolean(),
});
export type ScimTokenView = z.infer<typeof scimTokenView>;

/** The answer to POST .../scim/tokens: the only time `token` is shown. */
export const scimTokenCreated = scimTokenView.omit({ expired: true, lastUsedAt: true }).extend({ token: z.string() });
export type ScimTokenCreated = z.infer<typeof scimTokenCreated>;
