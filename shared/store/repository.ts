import { z } from "zod";
import { invalid } from "../errors.js";
import {
  changeEntrySchema,
  environmentSchema,
  groupSchema,
  kindSchema,
  grantSchema,
  indexEntrySchema,
  invitationSchema,
  membershipSchema,
  ownerRowSchema,
  recordingSchema,
  resourceSchema,
  tenantUserSchema,
  type ChangeEntry,
  type Environment,
  type Grant,
  type Group,
  type IndexEntry,
  type Invitation,
  type Membership,
  type OwnerRow,
  type PrincipalRef,
  type Recording,
  type Resource,
  type TenantUser,
  isExpired,
} from "../model/records.js";
import { ExpiryRows } from "./expiryRows.js";
import { queryAll, type Row, type RowKeyRange, type RowStore, type WriteOp } from "../ports/rows.js";
import { keys, newestFirstKey, searchKey, type TableNames } from "./keys.js";
import type { Claim } from "../model/claims.js";
import { claimKeys } from "./claimRows.js";
import { keysPerQuery } from "./existingKeys.js";
import { outboxItemSchema, type OutboxItem } from "../model/outbox.js";
import { OutboxRows } from "./outboxRows.js";
import { existingKeys } from "./existingKeys.js";
import { GroupRows } from "./groupRows.js";
import { MemberFactsRows } from "./memberFactsRows.js";
import type { MemberFacts } from "../model/memberFacts.js";
import { PrincipalIndexRows } from "./principalIndexRows.js";
import { ScimRows } from "./scimRows.js";
import { ScimTokenRows } from "./scimTokenRows.js";
import { WebhookRows } from "./webhookRows.js";
import { SecurityRoleRows } from "./securityRoleRows.js";
import { privilegeList, type HeldPrivilege } from "../rules/decide.js";
import { decodeRow, encodeRow } from "./rowJson.js";

const tombstoneSchema = z.object({ deleted: z.literal(true), deletedAt: z.string(), kind: kindSchema });
/** The meta row: the resource, or the tombstone a delete leaves until the relay purges the partition. */
export const metaSchema = z.union([tombstoneSchema, resourceSchema]);

export interface PrincipalContext {
  user: TenantUser | undefined;
  membership: Membership | undefined;
  memberOf: PrincipalRef[];
  /** What the membership's custom security roles allow, as they stand now (empty for none). */
  privileges: HeldPrivilege[];
}

export interface ResourceState {
  resource: Resource;
  etag: string;
  grants: Grant[];
}

export interface FullResourceState extends ResourceState {
  invitations: Invitation[];
  recordings: Recording[];
  outbox: OutboxItem[];
}

/** What one resource transaction writes. Every change replaces the meta row under its ETag. */
export interface ResourceChange {
  /** The ETag the meta row was read with, or "new" for a resource that must not exist yet. */
  etag: string | "new";
  resource: Resource;
  putGrants?: Grant[];
  deleteGrants?: { principal: PrincipalRef; role: Grant["role"] }[];
  putInvitations?: Invitation[];
  putRecordings?: Recording[];
  deleteRecordings?: string[];
  changes?: ChangeEntry[];
  outbox?: OutboxItem[];
  /** Marks the resource deleted; its rows are purged by the outbox relay. */
  tombstone?: boolean;
  /** The resource's ownership claim (docs/claims.md): started, or ended by the accept that makes its owner. */
  putClaim?: Claim;
}

/** The domain's view of the sharing tables; every key comes from `keys.ts`, every record goes through `rowJson.ts`. */
export class SharingRepository {
  /** The outbox rows, as the relay reads and clears them (they are written by `commit` and `putGroup`). */
  readonly outbox: OutboxRows;
  /** The per-principal index rows, as the relay writes them. */
  readonly index: PrincipalIndexRows;
  /** Groups' and lists' own rows and their members' rows. */
  readonly groups: GroupRows;
  /** The member facts on each environment's member rows, as the relay keeps them in line with profiles. */
  readonly memberFacts: MemberFactsRows;
  /** Provisioning's (SCIM) attributes and lookups. */
  readonly scim: ScimRows;
  /** Provisioning secrets (hashes) per environment. */
  readonly scimTokens: ScimTokenRows;
  /** The environments' custom security roles and their privileges. */
  readonly securityRoles: SecurityRoleRows;
  /** Webhook subscriptions per environment, with their signing secrets. */
  readonly webhooks: WebhookRows;
  /** The expiry index of time-bound grants, as the relay writes it and the expiry timer reads it. */
  readonly expiries: ExpiryRows;

  constructor(
    readonly rows: RowStore,
    readonly tables: TableNames,
    /**
     * The instant reads are exact at: grants and index rows whose `expiresAt` has passed read as
     * absent, swept or not (docs/expiry.md). The capabilities' clock, so tests can move it.
     */
    readonly now: () => Date = () => new Date(),
  ) {
    this.outbox = new OutboxRows(rows, tables);
    this.index = new PrincipalIndexRows(rows, tables, now);
    this.expiries = new ExpiryRows(rows, tables);
    this.groups = new GroupRows(rows, tables);
    this.memberFacts = new MemberFactsRows(rows, tables);
    this.scim = new ScimRows(rows, tables);
    this.scimTokens = new ScimTokenRows(rows, tables);
    this.securityRoles = new SecurityRoleRows(rows, tables);
    this.webhooks = new WebhookRows(rows, tables);
  }

  // Environments

  async getEnvironment(envId: string): Promise<Environment | undefined> {
    const row = await this.rows.get(this.tables.environments, keys.environmentPk, envId);
    return row ? decodeRow(environmentSchema, row) : undefined;
  }

  /** `outbox`: what must follow (the change log entry), written in the environment's own transaction. */
  async putEnvironment(env: Environment, outbox: readonly OutboxItem[] = []): Promise<void> {
    await this.rows.transact(this.tables.environments, keys.environmentPk, [
      { op: "upsert", rk: env.envId, fields: encodeRow(env) },
      ...outbox.map((o): WriteOp => ({ op: "upsert", rk: keys.outboxRk(o.id), fields: encodeRow(o) })),
    ]);
  }

  async *environments(): AsyncIterable<Environment> {
    let continuation: string | undefined;
    do {
      const page = await this.environmentsPage(continuation, 1000);
      yield* page.environments;
      continuation = page.continuation;
    } while (continuation);
  }

  /**
   * One request: a page of every environment, in id order. The partition also holds the outbox rows
   * of environment changes (`outbox|…`, never an id, which can't hold `|`): skipped, so a page may be short.
   */
  async environmentsPage(continuation: string | undefined, pageSize: number) {
    const page = await this.rows.queryPage(this.tables.environments, keys.environmentPk, [{ all: true }], {
      continuation,
      pageSize,
    });
    return {
      environments: page.rows
        .filter((r) => !r.rk.startsWith(keys.outboxPrefix))
        .map((r) => decodeRow(environmentSchema, r)),
      continuation: page.continuation,
    };
  }

  /** These environments, in the order given (absent ones left out): one query per 50 ids, together. */
  async environmentsByIds(envIds: readonly string[]): Promise<Environment[]> {
    const chunks: string[][] = [];
    for (let i = 0; i < envIds.length; i += keysPerQuery) chunks.push(envIds.slice(i, i + keysPerQuery));
    const rows = (
      await Promise.all(
        chunks.map((ids) =>
          queryAll(
            this.rows,
            this.tables.environments,
            keys.environmentPk,
            ids.map((eq) => ({ eq })),
          ),
        ),
      )
    ).flat();
    const byId = new Map(rows.map((r) => [r.rk, decodeRow(environmentSchema, r)]));
    return envIds.flatMap((id) => byId.get(id) ?? []);
  }

  // Tenant directory

  async getUser(userId: string): Promise<TenantUser | undefined> {
    const row = await this.rows.get(
      this.tables.principals,
      keys.principalPk({ type: "user", id: userId }),
      keys.profileRk,
    );
    return row ? decodeRow(tenantUserSchema, row) : undefined;
  }

  /** `outbox`: what must follow the profile into other partitions, written in the profile's transaction. */
  async putUser(user: TenantUser, outbox?: OutboxItem | readonly OutboxItem[]): Promise<void> {
    const previous = await this.getUser(user.userId);
    const items = outbox === undefined ? [] : "id" in outbox ? [outbox] : outbox;
    await this.rows.transact(this.tables.principals, keys.principalPk({ type: "user", id: user.userId }), [
      { op: "upsert", rk: keys.profileRk, fields: encodeRow(user) },
      ...items.map((o): WriteOp => ({ op: "upsert", rk: keys.outboxRk(o.id), fields: encodeRow(o) })),
    ]);
    // The search rows are an index of the profile: written after it, stale ones removed, all idempotent.
    const wanted = [
      keys.searchRk("name", user.displayName, user.userId),
      keys.searchRk("email", user.email, user.userId),
    ];
    const stale = previous
      ? [
          keys.searchRk("name", previous.displayName, user.userId),
          keys.searchRk("email", previous.email, user.userId),
        ].filter((k) => !wanted.includes(k))
      : [];
    await Promise.all([
      this.rows.transact(
        this.tables.directory,
        keys.tenantPk,
        wanted.map((rk): WriteOp => ({ op: "upsert", rk, fields: { id: user.userId } })),
      ),
      this.rows.transact(this.tables.directory, keys.tenantUserPk(user.userId), [
        { op: "upsert", rk: keys.tenantUserRk(user.userId), fields: { id: user.userId } },
      ]),
    ]);
    // One by one: a batch fails whole on a row that is already gone (a crash after the profile write).
    for (const rk of stale) await this.rows.delete(this.tables.directory, keys.tenantPk, rk);
  }

  /** Which of these ids the tenant directory knows: per bucket, one query per 50 ids, 16 in flight. */
  async knownUsers(userIds: readonly string[]): Promise<Set<string>> {
    const row = (id: string) => ({ pk: keys.tenantUserPk(id), rk: keys.tenantUserRk(id) });
    const found = await existingKeys(this.rows, this.tables.directory, [...new Set(userIds)].map(row));
    return new Set(
      userIds.filter((id) => {
        const r = row(id);
        return found.has(`${r.pk}|${r.rk}`);
      }),
    );
  }

  async getMembership(envId: string, userId: string): Promise<Membership | undefined> {
    const row = await this.rows.get(
      this.tables.principals,
      keys.principalPk({ type: "user", id: userId }),
      keys.memberRk(envId),
    );
    return row ? decodeRow(membershipSchema, row) : undefined;
  }

  /**
   * Writes the environment's member list first and the user's own rows second (the membership, and
   * the row that lists the environment among theirs); all are idempotent upserts. The member list's
   * row also carries the user's `facts` (`model/memberFacts.ts`); `outbox` (the change log entry)
   * goes in its transaction.
   */
  async putMembership(m: Membership, facts?: MemberFacts, outbox: readonly OutboxItem[] = []): Promise<void> {
    await this.rows.transact(this.tables.directory, keys.directoryPk(m.envId), [
      { op: "upsert", rk: keys.envMemberRk(m.userId), fields: encodeRow(facts ? { ...m, facts } : m) },
      ...outbox.map((o): WriteOp => ({ op: "upsert", rk: keys.outboxRk(o.id), fields: encodeRow(o) })),
    ]);
    await this.rows.transact(this.tables.principals, keys.principalPk({ type: "user", id: m.userId }), [
      { op: "upsert", rk: keys.memberRk(m.envId), fields: encodeRow(m) },
      { op: "upsert", rk: keys.memberOfRk(m.envId), fields: encodeRow(m) },
    ]);
  }

  /** One request: a page of the user's memberships (the environments they are in), in environment id order. */
  async membershipsOfUserPage(userId: string, continuation: string | undefined, pageSize: number) {
    const page = await this.rows.queryPage(
      this.tables.principals,
      keys.principalPk({ type: "user", id: userId }),
      [{ prefix: keys.memberOfPrefix }],
      { continuation, pageSize },
    );
    return { memberships: page.rows.map((r) => decodeRow(membershipSchema, r)), continuation: page.continuation };
  }

  /** One request: a page of the environment's memberships, in user id order. */
  async environmentMembersPage(envId: string, continuation: string | undefined, pageSize: number) {
    const page = await this.rows.queryPage(
      this.tables.directory,
      keys.directoryPk(envId),
      [{ prefix: keys.envMemberPrefix }],
      { continuation, pageSize },
    );
    return { memberships: page.rows.map((r) => decodeRow(membershipSchema, r)), continuation: page.continuation };
  }

  async environmentMembers(envId: string): Promise<Membership[]> {
    const rows = await queryAll(this.rows, this.tables.directory, keys.directoryPk(envId), [
      { prefix: keys.envMemberPrefix },
    ]);
    return rows.map((r) => decodeRow(membershipSchema, r));
  }

  /**
   * The environment's first `limit` members and groups (by id), and whether there are more: the
   * rows of one range, read until `limit + 1` came back, so the cost is bounded by `limit`.
   */
  async directoryUpTo(envId: string, what: "member" | "group", limit: number) {
    const prefix = what === "member" ? keys.envMemberPrefix : keys.groupPrefix;
    const rows: Row[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.rows.queryPage(this.tables.directory, keys.directoryPk(envId), [{ prefix }], {
        continuation,
        pageSize: Math.min(1000, limit + 1 - rows.length),
      });
      rows.push(...page.rows);
      continuation = page.continuation;
    } while (continuation && rows.length <= limit);
    const kept = rows.slice(0, limit);
    return {
      members: what === "member" ? kept.map((r) => decodeRow(membershipSchema, r)) : [],
      groups: what === "group" ? kept.map((r) => decodeRow(groupSchema, r)) : [],
      more: rows.length > limit,
    };
  }

  /**
   * Four requests sent together: the user's profile, their membership of the environment, the groups
   * and lists they are in (one range of their membership bucket, whatever the groups' sizes), and the
   * environment's custom roles' privileges (one row). Reading the privileges with the membership,
   * rather than copying them onto it, makes a role taken away or a privilege reduced count at once.
   */
  async principalContext(envId: string, userId: string): Promise<PrincipalContext> {
    const [profile, member, memberOf, roles] = await Promise.all([
      this.rows.get(this.tables.principals, keys.principalPk({ type: "user", id: userId }), keys.profileRk),
      this.rows.get(this.tables.directory, keys.directoryPk(envId), keys.envMemberRk(userId)),
      this.groups.groupsOf(envId, userId),
      this.securityRoles.privileges(envId),
    ]);
    const membership = member ? decodeRow(membershipSchema, member) : undefined;
    return {
      user: profile ? decodeRow(tenantUserSchema, profile) : undefined,
      membership,
      memberOf,
      privileges: membership ? privilegeList(membership.securityRoles, roles.row.roles) : [],
    };
  }

  // Groups and SharePoint lists

  async getGroup(envId: string, groupId: string): Promise<{ group: Group; etag: string } | undefined> {
    return this.groups.get(envId, groupId);
  }

  /**
   * Writes the group's own row and its search row in one transaction (its members are rows of their
   * own), with `outbox` (the change log entry).
   */
  async putGroup(
    group: Group,
    previous: { group: Group; etag: string } | undefined,
    outbox: readonly OutboxItem[] = [],
  ): Promise<void> {
    const ops: WriteOp[] = [
      previous
        ? { op: "replace", rk: keys.groupRk(group.groupId), fields: encodeRow(group), etag: previous.etag }
        : { op: "insert", rk: keys.groupRk(group.groupId), fields: encodeRow(group) },
      { op: "upsert", rk: keys.searchRk("group", group.displayName, group.groupId), fields: { id: group.groupId } },
    ];
    const staleSearch = previous ? keys.searchRk("group", previous.group.displayName, group.groupId) : undefined;
    if (staleSearch && staleSearch !== ops[1]!.rk) ops.push({ op: "delete", rk: staleSearch });
    for (const o of outbox) ops.push({ op: "upsert", rk: keys.outboxRk(o.id), fields: encodeRow(o) });
    await this.rows.transact(this.tables.directory, keys.directoryPk(group.envId), ops);
  }

  /** One request: a page of the environment's groups and lists, in id order. */
  async groupsPage(envId: string, continuation: string | undefined, pageSize: number) {
    const page = await this.rows.queryPage(
      this.tables.directory,
      keys.directoryPk(envId),
      [{ prefix: keys.groupPrefix }],
      { continuation, pageSize },
    );
    return { groups: page.rows.map((r) => decodeRow(groupSchema, r)), continuation: page.continuation };
  }

  /**
   * Removes a group's own row and its search row, in one transaction, when its members' rows are
   * gone already (the caller empties it first, so a repeated delete finishes an interrupted one).
   */
  async deleteGroup(group: Group): Promise<void> {
    await this.rows.transact(this.tables.directory, keys.directoryPk(group.envId), [
      { op: "delete", rk: keys.groupRk(group.groupId) },
      { op: "delete", rk: keys.searchRk("group", group.displayName, group.groupId) },
    ]);
  }

  /**
   * Removes a user's membership of an environment: the user's own rows first, the environment's
   * member row last (the reverse of `putMembership`), with `outbox` (what must follow the removal) in
   * that last transaction. Each step is idempotent, so a repeat after a crash between them finishes
   * the job. Returns whether the environment's member row was still there (the outbox was written).
   */
  async deleteMembership(envId: string, userId: string, outbox: readonly OutboxItem[] = []): Promise<boolean> {
    const pk = keys.principalPk({ type: "user", id: userId });
    await Promise.all([
      this.rows.delete(this.tables.principals, pk, keys.memberRk(envId)),
      this.rows.delete(this.tables.principals, pk, keys.memberOfRk(envId)),
    ]);
    const member = await this.rows.get(this.tables.directory, keys.directoryPk(envId), keys.envMemberRk(userId));
    if (!member) return false;
    await this.rows.transact(this.tables.directory, keys.directoryPk(envId), [
      { op: "delete", rk: keys.envMemberRk(userId) },
      ...outbox.map((o): WriteOp => ({ op: "upsert", rk: keys.outboxRk(o.id), fields: encodeRow(o) })),
    ]);
    return true;
  }

  /**
   * Ids whose search row holds this exact text, lower-cased (a group's name in the environment, or a
   * tenant user's email), up to `limit`: one query. The caller compares the records it reads.
   */
  async idsBySearchText(
    envId: string | undefined,
    field: "email" | "group",
    text: string,
    limit: number,
  ): Promise<string[]> {
    const prefix = keys.searchPrefix(field, text);
    const head = `search|${field}|`.length;
    // Search keys keep at least 370 characters of the text beside any id (`keys.searchRk`); a longer
    // text is matched by its first 360, and the caller's comparison decides.
    const range = prefix.length - head <= 360 ? `${prefix}|` : prefix.slice(0, head + 360);
    const page = await this.rows.queryPage(
      this.tables.directory,
      envId === undefined ? keys.tenantPk : keys.directoryPk(envId),
      [{ prefix: range }],
      { pageSize: limit },
    );
    return [...new Set(page.rows.map((r) => String(r.fields.id)))];
  }

  /** Tenant users and the environment's groups whose name or email starts with the text. */
  async searchDirectory(envId: string, text: string, limit: number): Promise<{ users: TenantUser[]; groups: Group[] }> {
    const [tenantPage, groupPage] = await Promise.all([
      this.rows.queryPage(
        this.tables.directory,
        keys.tenantPk,
        [{ prefix: keys.searchPrefix("name", text) }, { prefix: keys.searchPrefix("email", text) }],
        { pageSize: limit * 2 },
      ),
      this.rows.queryPage(
        this.tables.directory,
        keys.directoryPk(envId),
        [{ prefix: keys.searchPrefix("group", text) }],
        { pageSize: limit },
      ),
    ]);
    const userIds = [...new Set(tenantPage.rows.map((r) => String(r.fields.id)))].slice(0, limit);
    const groupIds = [...new Set(groupPage.rows.map((r) => String(r.fields.id)))].slice(0, limit);
    const [users, groups] = await Promise.all([
      Promise.all(userIds.map((id) => this.getUser(id))),
      Promise.all(groupIds.map((id) => this.getGroup(envId, id))),
    ]);
    return {
      users: users.filter((u): u is TenantUser => u !== undefined),
      groups: groups.filter((g) => g !== undefined).map((g) => g.group),
    };
  }

  // Resources

  /**
   * One request whatever the resource holds: its meta row, the grants of these principals, and the
   * grants of every group and list (through which a user may hold a role). What checks and the
   * caller's own view read; `resourceState` reads every grant, for what needs them all.
   */
  async resourceStateFor(
    envId: string,
    resourceId: string,
    principals: readonly PrincipalRef[],
    /** The expiry timer reads the expired grant it removes; every other reader sees live grants only. */
    options: { includeExpired?: boolean } = {},
  ): Promise<ResourceState | undefined> {
    const ranges = new Map<string, RowKeyRange>([
      [keys.metaRk, { eq: keys.metaRk }],
      ["groups", keys.groupAndListGrants],
    ]);
    for (const p of principals)
      if (p.type === "user") ranges.set(keys.grantsOfPrefix(p), { prefix: keys.grantsOfPrefix(p) });
    const rows = await queryAll(this.rows, this.tables.resources, keys.resourcePk(envId, resourceId), [
      ...ranges.values(),
    ]);
    return this.assemble(rows, options.includeExpired === true)?.state;
  }

  /** One request: the resource's meta row and every grant on it. */
  async resourceState(envId: string, resourceId: string): Promise<ResourceState | undefined> {
    const rows = await queryAll(this.rows, this.tables.resources, keys.resourcePk(envId, resourceId), [
      { eq: keys.metaRk },
      { prefix: keys.grantPrefix },
    ]);
    return this.assemble(rows)?.state;
  }

  /** One request (plus pages): everything stored in the resource's partition. */
  async fullResourceState(envId: string, resourceId: string): Promise<FullResourceState | undefined> {
    const rows = await queryAll(this.rows, this.tables.resources, keys.resourcePk(envId, resourceId), [
      { eq: keys.metaRk },
      { prefix: keys.grantPrefix },
      { prefix: keys.invitationPrefix },
      { prefix: keys.recordingPrefix },
      { prefix: keys.outboxPrefix },
    ]);
    const assembled = this.assemble(rows);
    if (!assembled) return undefined;
    const invitations: Invitation[] = [];
    const recordings: Recording[] = [];
    const outbox: OutboxItem[] = [];
    for (const row of rows) {
      if (row.rk.startsWith(keys.invitationPrefix)) invitations.push(decodeRow(invitationSchema, row));
      else if (row.rk.startsWith(keys.recordingPrefix)) recordings.push(decodeRow(recordingSchema, row));
      else if (row.rk.startsWith(keys.outboxPrefix)) outbox.push(decodeRow(outboxItemSchema, row));
    }
    return { ...assembled.state, invitations, recordings, outbox };
  }

  /** Every grant row of the partition, also under a tombstone (the purge reads whose rows to remove). */
  async grantRows(envId: string, resourceId: string): Promise<Grant[]> {
    const rows = await queryAll(this.rows, this.tables.resources, keys.resourcePk(envId, resourceId), [
      { prefix: keys.grantPrefix },
    ]);
    return rows.map((r) => decodeRow(grantSchema, r));
  }

  /** The meta row even when the resource is deleted (a tombstone), for the relay that purges it. */
  async rawResourceMeta(
    envId: string,
    resourceId: string,
  ): Promise<{ resource?: Resource; tombstone: boolean; etag?: string } | undefined> {
    const row = await this.rows.get(this.tables.resources, keys.resourcePk(envId, resourceId), keys.metaRk);
    if (!row) return undefined;
    const meta = decodeRow(metaSchema, row);
    if ("deleted" in meta) return { tombstone: true, ...(row.etag ? { etag: row.etag } : {}) };
    return { resource: meta, tombstone: false, ...(row.etag ? { etag: row.etag } : {}) };
  }

  private assemble(rows: Row[], includeExpired = false): { state: ResourceState } | undefined {
    const meta = rows.find((r) => r.rk === keys.metaRk);
    if (!meta || !meta.etag) return undefined;
    const resource = decodeRow(metaSchema, meta);
    if ("deleted" in resource) return undefined;
    const now = this.now();
    // Exact at the instant of expiry: an expired grant is absent from here on, in the same read.
    const grants = rows
      .filter((r) => r.rk.startsWith(keys.grantPrefix))
      .map((r) => decodeRow(grantSchema, r))
      .filter((g) => includeExpired || !isExpired(g.expiresAt, now));
    return { state: { resource, etag: meta.etag, grants } };
  }

  /**
   * One entity-group transaction on the resource's partition. The meta row is always written under
   * the ETag it was read with, so two concurrent changes of one resource can't both land: the loser
   * gets ConcurrencyError and re-reads. (Deletes in a transaction carry no ETag; this guard covers them.)
   */
  async commit(change: ResourceChange): Promise<void> {
    const r = change.resource;
    const metaFields = change.tombstone
      ? encodeRow({ deleted: true, deletedAt: r.updatedAt, kind: r.kind })
      : encodeRow(r);
    const ops: WriteOp[] = [
      change.etag === "new"
        ? { op: "insert", rk: keys.metaRk, fields: metaFields }
        : { op: "replace", rk: keys.metaRk, fields: metaFields, etag: change.etag },
    ];
    for (const g of change.putGrants ?? [])
      ops.push({
        op: "upsert",
        rk: keys.grantRk({ type: g.principalType, id: g.principalId }, g.role),
        fields: encodeRow(g),
      });
    for (const g of change.deleteGrants ?? []) ops.push({ op: "delete", rk: keys.grantRk(g.principal, g.role) });
    for (const i of change.putInvitations ?? [])
      ops.push({ op: "upsert", rk: keys.invitationRk(i.invitationId), fields: encodeRow(i) });
    for (const rec of change.putRecordings ?? [])
      ops.push({ op: "upsert", rk: keys.recordingRk(rec.recordingId), fields: encodeRow(rec) });
    for (const id of change.deleteRecordings ?? []) ops.push({ op: "delete", rk: keys.recordingRk(id) });
    for (const c of change.changes ?? [])
      ops.push({
        op: "upsert",
        rk: keys.changePrefix + newestFirstKey(new Date(c.at), c.changeId),
        fields: encodeRow(c),
      });
    for (const o of change.outbox ?? []) ops.push({ op: "upsert", rk: keys.outboxRk(o.id), fields: encodeRow(o) });
    if (change.putClaim) ops.push({ op: "upsert", rk: claimKeys.claimRk, fields: encodeRow(change.putClaim) });
    if (ops.length > 100)
      throw invalid("this request changes too many rows at once; split it into smaller requests", [
        { field: "body", message: `changes ${ops.length} rows; at most 100 change at once` },
      ]);
    await this.rows.transact(this.tables.resources, keys.resourcePk(r.envId, r.resourceId), ops);
  }

  async getInvitation(
    envId: string,
    resourceId: string,
    invitationId: string,
  ): Promise<{ invitation: Invitation; etag: string } | undefined> {
    const row = await this.rows.get(
      this.tables.resources,
      keys.resourcePk(envId, resourceId),
      keys.invitationRk(invitationId),
    );
    return row && row.etag ? { invitation: decodeRow(invitationSchema, row), etag: row.etag } : undefined;
  }

  /** Updates one invitation under its own ETag (mailer and accept don't need the resource's lock). */
  async replaceInvitation(envId: string, resourceId: string, invitation: Invitation, etag: string): Promise<void> {
    await this.rows.transact(this.tables.resources, keys.resourcePk(envId, resourceId), [
      { op: "replace", rk: keys.invitationRk(invitation.invitationId), fields: encodeRow(invitation), etag },
    ]);
  }

  async resourceChanges(envId: string, resourceId: string, continuation: string | undefined, pageSize: number) {
    const page = await this.rows.queryPage(
      this.tables.resources,
      keys.resourcePk(envId, resourceId),
      [{ prefix: keys.changePrefix }],
      { continuation, pageSize },
    );
    return { items: page.rows.map((r) => decodeRow(changeEntrySchema, r)), continuation: page.continuation };
  }

  /** Removes every row of a deleted resource's partition but its outbox, the meta tombstone last. */
  async purgeResource(envId: string, resourceId: string): Promise<void> {
    const pk = keys.resourcePk(envId, resourceId);
    const rows = (await queryAll(this.rows, this.tables.resources, pk, [{ all: true }])).filter(
      (r) => r.rk !== keys.metaRk && !r.rk.startsWith(keys.outboxPrefix),
    );
    for (let i = 0; i < rows.length; i += 100) {
      await this.rows.transact(
        this.tables.resources,
        pk,
        rows.slice(i, i + 100).map((r): WriteOp => ({ op: "delete", rk: r.rk })),
      );
    }
    await this.rows.delete(this.tables.resources, pk, keys.metaRk);
  }

  // The per-principal index, as the listing reads it (the relay writes it through `index`)

  /** One partition query (plus pages): the principal's membership row and its index of resources. */
  async principalIndexPage(envId: string, principal: PrincipalRef, continuation: string | undefined) {
    const page = await this.rows.queryPage(
      this.tables.principals,
      keys.principalPk(principal),
      principal.type === "user"
        ? [{ eq: keys.memberRk(envId) }, { prefix: keys.indexPrefix(envId) }]
        : [{ prefix: keys.indexPrefix(envId) }],
      { continuation },
    );
    let membership: Membership | undefined;
    const entries: IndexEntry[] = [];
    const now = this.now();
    for (const row of page.rows) {
      if (row.rk === keys.memberRk(envId)) membership = decodeRow(membershipSchema, row);
      else {
        const live = PrincipalIndexRows.live(decodeRow(indexEntrySchema, row), now);
        if (live) entries.push(live);
      }
    }
    return { membership, entries, continuation: page.continuation };
  }

  // The environment's catalog of resources and its change log

  async putCatalog(resource: Resource): Promise<void> {
    await this.rows.transact(this.tables.directory, keys.directoryPk(resource.envId), [
      { op: "upsert", rk: keys.catalogRk(resource.resourceId), fields: encodeRow(resource) },
    ]);
  }

  async deleteCatalog(envId: string, resourceId: string): Promise<void> {
    await this.rows.delete(this.tables.directory, keys.directoryPk(envId), keys.catalogRk(resourceId));
  }

  /** Puts the resource's `owner|` rows (upserts only: one never held is simply absent), 100 a transaction. */
  async putOwnerRows(envId: string, resourceId: string, owners: readonly OwnerRow[]): Promise<void> {
    for (let i = 0; i < owners.length; i += 100)
      await this.rows.transact(
        this.tables.resources,
        keys.resourcePk(envId, resourceId),
        owners.slice(i, i + 100).map((o): WriteOp => ({
          op: "upsert",
          rk: keys.ownerRk({ type: o.principalType, id: o.principalId }, o.role),
          fields: encodeRow(o),
        })),
      );
  }

  /** The owners of each resource (its ownership grants as they stand): one query per resource, all together. */
  async ownersOf(envId: string, resourceIds: readonly string[]): Promise<Map<string, OwnerRow[]>> {
    const found = await Promise.all(
      resourceIds.map(async (id) => {
        const rows = await queryAll(this.rows, this.tables.resources, keys.resourcePk(envId, id), [
          { prefix: keys.ownerPrefix },
        ]);
        const now = this.now();
        const held = rows
          .map((r) => decodeRow(ownerRowSchema, r))
          .filter((o) => o.held && !isExpired(o.expiresAt, now));
        return [id, held] as const;
      }),
    );
    return new Map(found);
  }

  /** These resources' catalog rows, in the order given (absent ones left out): one query per 50 ids, together. */
  async catalogByIds(envId: string, resourceIds: readonly string[]): Promise<Resource[]> {
    const chunks: string[][] = [];
    for (let i = 0; i < resourceIds.length; i += keysPerQuery) chunks.push(resourceIds.slice(i, i + keysPerQuery));
    const rows = (
      await Promise.all(
        chunks.map((ids) =>
          queryAll(
            this.rows,
            this.tables.directory,
            keys.directoryPk(envId),
            ids.map((id) => ({ eq: keys.catalogRk(id) })),
          ),
        ),
      )
    ).flat();
    const byId = new Map(rows.map((r) => [r.rk.slice(keys.catalogPrefix.length), decodeRow(resourceSchema, r)]));
    return resourceIds.flatMap((id) => byId.get(id) ?? []);
  }

  /** One request: a page of the principal's index rows in the environment (the resources they reach, by path). */
  async indexEntriesPage(envId: string, principal: PrincipalRef, continuation: string | undefined, pageSize: number) {
    const page = await this.rows.queryPage(
      this.tables.principals,
      keys.principalPk(principal),
      [{ prefix: keys.indexPrefix(envId) }],
      { continuation, pageSize },
    );
    const now = this.now();
    const entries = page.rows.flatMap((r) => PrincipalIndexRows.live(decodeRow(indexEntrySchema, r), now) ?? []);
    return { entries, continuation: page.continuation };
  }

  async catalogPage(envId: string, continuation: string | undefined, pageSize = 1000) {
    const page = await this.rows.queryPage(
      this.tables.directory,
      keys.directoryPk(envId),
      [{ prefix: keys.catalogPrefix }],
      { continuation, pageSize },
    );
    return { resources: page.rows.map((r) => decodeRow(resourceSchema, r)), continuation: page.continuation };
  }

  async putEnvironmentChange(envId: string, entry: ChangeEntry): Promise<void> {
    await this.rows.transact(this.tables.changes, envId, [
      { op: "upsert", rk: newestFirstKey(new Date(entry.at), entry.changeId), fields: encodeRow(entry) },
    ]);
  }

  async environmentChanges(envId: string, continuation: string | undefined, pageSize: number) {
    const page = await this.rows.queryPage(this.tables.changes, envId, [{ all: true }], { continuation, pageSize });
    return { items: page.rows.map((r) => decodeRow(changeEntrySchema, r)), continuation: page.continuation };
  }

  /** Every search key starts from lower-cased text; exported for tests of the layout. */
  static searchKey = searchKey;
}
