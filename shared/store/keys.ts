import type { PrincipalRef } from "../model/records.js";
import { tableLimits } from "../ports/rowLimits.js";
import type { Role } from "../rules/matrix.js";

/**
 * The storage layout (README, "Storage layout"). Ids are restricted to `[A-Za-z0-9._-]`, so `|`
 * never occurs inside an id and every key below splits back unambiguously.
 */
export interface TableNames {
  environments: string;
  principals: string;
  resources: string;
  directory: string;
  changes: string;
  audits: string;
  copies: string;
  reassignments: string;
  offboardings: string;
  /** Idempotency keys of creating POSTs, one row per caller, route and key (`idempotencyRows.ts`). */
  idempotency: string;
  /** Each event's delivery to each subscription, one partition per subscription (`webhookDeliveryRows.ts`). */
  webhookDeliveries: string;
  /** Access reviews: definitions, recurring starts, open instances, each instance's items (`reviewRows.ts`). */
  reviews: string;
}

export function tableNames(prefix: string): TableNames {
  return {
    environments: `${prefix}Environments`,
    principals: `${prefix}Principals`,
    resources: `${prefix}Resources`,
    directory: `${prefix}Directory`,
    changes: `${prefix}Changes`,
    audits: `${prefix}Audits`,
    copies: `${prefix}Copies`,
    reassignments: `${prefix}Reassignments`,
    offboardings: `${prefix}Offboardings`,
    idempotency: `${prefix}Idempotency`,
    webhookDeliveries: `${prefix}WebhookDeliveries`,
    reviews: `${prefix}Reviews`,
  };
}

export const keys = {
  environmentPk: "environment",
  principalPk: (p: PrincipalRef) => `${p.type}|${p.id}`,
  profileRk: "profile",
  memberRk: (envId: string) => `env|${envId}|member`,
  /**
   * The user's environments, one row per membership under a prefix of its own, so they are read by
   * one range rather than by paging through the user's `env|E|res|…` index rows.
   */
  memberOfPrefix: "envs|",
  memberOfRk: (envId: string) => `envs|${envId}`,
  indexPrefix: (envId: string) => `env|${envId}|res|`,
  indexResourcePrefix: (envId: string, resourceId: string) => `env|${envId}|res|${resourceId}|`,
  indexRk: (envId: string, resourceId: string, through: string) => `env|${envId}|res|${resourceId}|${through}`,

  resourcePk: (envId: string, resourceId: string) => `${envId}|${resourceId}`,
  /** Every resource partition of the environment, and no other environment's: `env1|` is no prefix of `env10|…`. */
  resourcesPrefix: (envId: string) => `${envId}|`,
  metaRk: "meta",
  grantPrefix: "grant|",
  grantRk: (p: PrincipalRef, role: Role) => `grant|${p.type}|${p.id}|${role}`,
  /** Every grant of one principal on the resource. */
  grantsOfPrefix: (p: PrincipalRef) => `grant|${p.type}|${p.id}|`,
  /** Every grant to principals of one type (groups, lists) on the resource. */
  grantsOfTypePrefix: (type: PrincipalRef["type"]) => `grant|${type}|`,
  /**
   * Every grant to a group or a list, as one range: the types sort `group` < `sharePointList` <
   * `user`, so nothing but those two types falls between these bounds.
   */
  groupAndListGrants: { from: "grant|group|", to: "grant|sharePointList}" },
  /**
   * Who owns the resource: one row per ownership grant (owner, co-owner) ever held, `held` false once
   * revoked, brought in line with the grants by the outbox (`owners` items), so the owners are one
   * range of a few rows whatever else the resource holds.
   */
  ownerPrefix: "owner|",
  ownerRk: (p: PrincipalRef, role: Role) => `owner|${p.type}|${p.id}|${role}`,
  invitationPrefix: "invitation|",
  invitationRk: (id: string) => `invitation|${id}`,
  recordingPrefix: "recording|",
  recordingRk: (id: string) => `recording|${id}`,
  changePrefix: "change|",
  outboxPrefix: "outbox|",
  outboxRk: (id: string) => `outbox|${id}`,

  directoryPk: (envId: string) => envId,
  tenantPk: "tenant",
  /** The tenant directory's user ids, one row each, so many ids are checked by a few range queries. */
  tenantUserRk: (userId: string) => `user|${userId}`,
  tenantUserPk: (userId: string) => `tenant|${bucketOf(userId)}`,
  groupPrefix: "group|",
  groupRk: (groupId: string) => `group|${groupId}`,
  catalogPrefix: "resource|",
  catalogRk: (resourceId: string) => `resource|${resourceId}`,
  envMemberPrefix: "member|",
  envMemberRk: (userId: string) => `member|${userId}`,
  searchRk: (field: "name" | "email" | "group", value: string, id: string) => {
    // A name of 200 characters can take 600 once encoded: the key keeps what fits beside the id. A
    // search text is at most 100 characters (300 encoded, under the ~370 that always fit), so every
    // prefix a search can ask for is kept.
    const head = `search|${field}|`;
    return `${head}${cutEncoded(searchKey(value), tableLimits.maxKeyChars - head.length - 1 - id.length)}|${id}`;
  },
  searchPrefix: (field: "name" | "email" | "group", text: string) => `search|${field}|${searchKey(text)}`,

  // Group membership, one row per member in each direction, both in the partition of the member's
  // bucket (`memberBucketPk`), so one transaction writes a member's two rows and a check reads a
  // user's groups by one range. Buckets keep partitions small (Azurite slows with a partition's size,
  // and Azure serves about 2,000 entities a second per partition).
  memberBucketPk: (envId: string, userId: string) => `${envId}|m${bucketOf(userId)}`,
  memberBucketPkOf: (envId: string, bucket: string) => `${envId}|m${bucket}`,
  memberBucketPrefix: (envId: string) => `${envId}|m`,
  groupMemberPrefix: (groupId: string) => `gm|${groupId}|`,
  groupMemberRk: (groupId: string, userId: string) => `gm|${groupId}|${userId}`,
  userGroupsPrefix: "ug|",
  userGroupPrefix: (userId: string) => `ug|${userId}|`,
  userGroupRk: (userId: string, groupId: string) => `ug|${userId}|${groupId}`,

  // Custom security roles, in the environment's directory partition: one row per role, and one row
  // holding every role's privileges, written in the same transaction, which checks read beside the
  // membership (one point read in the same round trip, however many roles there are).
  securityRolePrefix: "securityRole|",
  securityRoleRk: (roleId: string) => `securityRole|${roleId}`,
  rolePrivilegesRk: "rolePrivileges",

  // Provisioning (SCIM), in the environment's directory partition: what a client sent beside our
  // own records, and lookups from `externalId` keyed by a digest, so any value fits a key.
  scimUserRk: (userId: string) => `scim|user|${userId}`,
  scimGroupRk: (groupId: string) => `scim|group|${groupId}`,
  scimExternalIdRk: (type: "user" | "group", digest: string) => `scim|ext|${type}|${digest}`,
  // Provisioning secrets of the environment (hash only), one row each: one point read per SCIM call.
  scimTokenPrefix: "scimtoken|",
  scimTokenRk: (tokenId: string) => `scimtoken|${tokenId}`,
  // Webhook subscriptions of the environment, one row each with its signing secrets (a few per
  // environment, `maxWebhookSubscriptions`): every event of the environment reads them by one range.
  webhookPrefix: "webhook|",
  webhookRk: (subscriptionId: string) => `webhook|${subscriptionId}`,
};

/** How many partitions membership and tenant id rows are spread over. */
export const bucketCount = 256;
const buckets = Array.from({ length: bucketCount }, (_, n) => n.toString(16).padStart(2, "0"));

/** A stable bucket for an id (FNV-1a), as two hex digits. */
export function bucketOf(id: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return buckets[(h >>> 0) % bucketCount]!;
}

/**
 * Row keys may not hold `/`, `\`, `#`, `?` or control characters. Search keys come from display
 * names, so they are lower-cased and those characters percent-encoded, one character at a time so a
 * prefix of the text is still a prefix of the key.
 */
export function searchKey(text: string): string {
  let out = "";
  for (const ch of text.toLowerCase()) {
    const code = ch.codePointAt(0) ?? 0;
    out +=
      ch === "/" ||
      ch === "\\" ||
      ch === "#" ||
      ch === "?" ||
      ch === "%" ||
      ch === "|" ||
      code < 0x20 ||
      (code >= 0x7f && code <= 0x9f)
        ? `%${code.toString(16).padStart(2, "0")}`
        : ch;
  }
  return out;
}

/** The first `room` characters of a search key, never cutting a `%xx` escape or a surrogate pair in two. */
function cutEncoded(encoded: string, room: number): string {
  if (encoded.length <= room) return encoded;
  let end = room;
  if (encoded[end - 1] === "%") end -= 1;
  else if (encoded[end - 2] === "%") end -= 2;
  const last = encoded.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return encoded.slice(0, end);
}

/** Row keys that sort newest first: the time counted down from the year 2286, then a unique suffix. */
export function newestFirstKey(at: Date, unique: string): string {
  return `${(9_999_999_999_999 - at.getTime()).toString().padStart(13, "0")}|${unique}`;
}

export function throughKey(through: PrincipalRef | "direct"): string {
  return through === "direct" ? "direct" : `${through.type}.${through.id}`;
}
