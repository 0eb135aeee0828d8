import { z } from "zod";
import { ConcurrencyError } from "../errors.js";
import { decodePageToken, encodePageToken } from "./pageToken.js";
import { groupSchema, principalRefSchema, type Group, type PrincipalRef } from "../model/records.js";
import type { OutboxItem } from "../model/outbox.js";
import { queryAll, type RowStore, type WriteOp } from "../ports/rows.js";
import { existingKeys } from "./existingKeys.js";
import { bucketOf, keys, type TableNames } from "./keys.js";
import { decodeRow, encodeRow } from "./rowJson.js";

/** Members whose two rows fit one transaction beside the outbox row that fans the change out. */
export const membersPerTransaction = 49;

/**
 * A group's or list's members as rows in the environment's directory partition: `gm|{group}|{user}`
 * (listing a group's members page by page, reading a chunk's membership back) and
 * `ug|{user}|{group}` (a check reads a user's groups by one range). Both rows of a member are written
 * in one transaction, with the outbox row that fans the change out to the members' listings, so the
 * two directions never disagree and a crash loses no fan-out.
 */
/** Bucket queries one page of a group's members may spend (an empty page with a token after that). */
const maxBucketReadsPerPage = 16;

export class GroupRows {
  constructor(
    private readonly rows: RowStore,
    private readonly tables: TableNames,
  ) {}

  async get(envId: string, groupId: string): Promise<{ group: Group; etag: string } | undefined> {
    const row = await this.rows.get(this.tables.directory, keys.directoryPk(envId), keys.groupRk(groupId));
    return row && row.etag ? { group: decodeRow(groupSchema, row), etag: row.etag } : undefined;
  }

  /**
   * One page of a group's member ids: bucket by bucket (only the group's `buckets`), in id order
   * within one. The continuation names the bucket and the storage's own token in it.
   */
  async membersPage(
    envId: string,
    group: Pick<Group, "groupId" | "buckets">,
    continuation: string | undefined,
    pageSize = 1000,
  ): Promise<{ userIds: string[]; continuation?: string | undefined }> {
    const buckets = group.buckets ?? [];
    let { bucket, token } = decodeMembersToken(continuation);
    const prefix = keys.groupMemberPrefix(group.groupId);
    // Buckets stay marked after their members leave: a page reads at most this many, so it costs a
    // bounded number of round trips however many emptied buckets it walks past.
    for (let reads = 1; ; reads++) {
      const b = buckets.find((x) => x >= bucket);
      if (b === undefined) return { userIds: [] };
      const page = await this.rows.queryPage(this.tables.directory, keys.memberBucketPkOf(envId, b), [{ prefix }], {
        continuation: b === bucket ? token : undefined,
        pageSize,
      });
      const userIds = page.rows.map((r) => r.rk.slice(prefix.length));
      if (page.continuation) return { userIds, continuation: encodeMembersToken(b, page.continuation) };
      const next = buckets.find((x) => x > b);
      if (next === undefined) return { userIds };
      // Empty buckets are skipped here; a short page goes back with the next bucket to read.
      if (userIds.length > 0 || reads >= maxBucketReadsPerPage)
        return { userIds, continuation: encodeMembersToken(next, undefined) };
      bucket = next;
      token = undefined;
    }
  }

  /** Every member id: the group's buckets' ranges, 16 in flight. */
  async allMembers(envId: string, group: Pick<Group, "groupId" | "buckets">): Promise<Set<string>> {
    const prefix = keys.groupMemberPrefix(group.groupId);
    const pks = (group.buckets ?? []).map((b) => keys.memberBucketPkOf(envId, b));
    const out = new Set<string>();
    let next = 0;
    const worker = async () => {
      while (next < pks.length) {
        const rows = await queryAll(this.rows, this.tables.directory, pks[next++]!, [{ prefix }]);
        for (const r of rows) out.add(r.rk.slice(prefix.length));
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, pks.length) }, worker));
    return out;
  }

  /**
   * Marks the buckets these members' rows go to on the group's row (before they are written), so
   * listing the members reads them. Returns the group as stored.
   */
  async markBuckets(envId: string, group: Group, memberIds: readonly string[]): Promise<Group> {
    let current = group;
    for (let tries = 1; ; tries++) {
      const wanted = new Set([...(current.buckets ?? []), ...memberIds.map((id) => bucketOf(id))]);
      if (wanted.size === (current.buckets ?? []).length) return current;
      const next: Group = { ...current, buckets: [...wanted].sort() };
      const found = await this.get(envId, group.groupId);
      if (!found) throw new ConcurrencyError(`group ${group.groupId} is gone`);
      if (JSON.stringify(found.group.buckets ?? []) !== JSON.stringify(current.buckets ?? [])) {
        current = found.group;
        continue;
      }
      try {
        await this.rows.transact(this.tables.directory, keys.directoryPk(envId), [
          { op: "replace", rk: keys.groupRk(group.groupId), fields: encodeRow(next), etag: found.etag },
        ]);
        return next;
      } catch (e) {
        if (!(e instanceof ConcurrencyError) || tries >= 10) throw e;
        current = (await this.get(envId, group.groupId))?.group ?? current;
      }
    }
  }

  /** Which of these users are members now: per bucket, one query per 50 ids, all sent together. */
  async present(envId: string, groupId: string, userIds: readonly string[]): Promise<Set<string>> {
    const row = (id: string) => ({ pk: keys.memberBucketPk(envId, id), rk: keys.groupMemberRk(groupId, id) });
    const found = await existingKeys(this.rows, this.tables.directory, userIds.map(row));
    return new Set(
      userIds.filter((id) => {
        const r = row(id);
        return found.has(`${r.pk}|${r.rk}`);
      }),
    );
  }

  /** The groups and lists a user is in: one range of the user's bucket. */
  async groupsOf(envId: string, userId: string): Promise<PrincipalRef[]> {
    const rows = await queryAll(this.rows, this.tables.directory, keys.memberBucketPk(envId, userId), [
      { prefix: keys.userGroupPrefix(userId) },
    ]);
    return rows.map((r) => decodeRow(principalRefSchema, r));
  }

  /**
   * Adds and removes members, 49 a transaction, each with the outbox row `outboxFor` makes for the
   * members it changed. Only real changes are written (an absent member isn't removed, a present
   * one isn't added), so a repeated request writes nothing; when another writer changed a member in
   * between, the chunk is read again and retried. Returns what changed.
   */
  async apply(
    envId: string,
    group: PrincipalRef,
    add: readonly string[],
    remove: readonly string[],
    outboxFor: (memberIds: string[], added: string[]) => OutboxItem,
    options: { concurrency?: number; diffKnown?: boolean } = {},
  ): Promise<{ added: string[]; removed: string[]; outbox: { pk: string; item: OutboxItem }[] }> {
    const wanted = new Map<string, boolean>();
    for (const id of remove) wanted.set(id, false);
    for (const id of add) wanted.set(id, true);
    // A transaction holds one partition: members are chunked within their bucket.
    const chunks: string[][] = [];
    for (const [, ids] of byBucket(envId, [...wanted.keys()]))
      for (let i = 0; i < ids.length; i += membersPerTransaction) chunks.push(ids.slice(i, i + membersPerTransaction));
    const added: string[] = [];
    const removed: string[] = [];
    const outbox: { pk: string; item: OutboxItem }[] = [];
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++]!;
        const done = await this.applyChunk(envId, group, chunk, wanted, outboxFor, options.diffKnown ?? false);
        added.push(...done.added);
        removed.push(...done.removed);
        if (done.outbox) outbox.push({ pk: keys.memberBucketPk(envId, chunk[0]!), item: done.outbox });
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, chunks.length) }, worker));
    return { added: added.sort(), removed: removed.sort(), outbox };
  }

  private async applyChunk(
    envId: string,
    group: PrincipalRef,
    chunk: string[],
    wanted: Map<string, boolean>,
    outboxFor: (memberIds: string[], added: string[]) => OutboxItem,
    diffKnown: boolean,
  ): Promise<{ added: string[]; removed: string[]; outbox?: OutboxItem }> {
    const pk = keys.memberBucketPk(envId, chunk[0]!);
    for (let tries = 1; ; tries++) {
      // A caller that computed the difference from what is stored (a PUT) writes it straight away;
      // only when that fails (another writer got there first) is the chunk read back.
      const present =
        diffKnown && tries === 1
          ? new Set(chunk.filter((id) => !wanted.get(id)))
          : await this.present(envId, group.id, chunk);
      const added = chunk.filter((id) => wanted.get(id) && !present.has(id));
      const removed = chunk.filter((id) => !wanted.get(id) && present.has(id));
      if (added.length + removed.length === 0) return { added, removed };
      // Joiners first: the members message counts them (`joinedCount`) rather than listing them twice.
      const item = outboxFor([...added, ...removed], added);
      const ops: WriteOp[] = [{ op: "upsert", rk: keys.outboxRk(item.id), fields: encodeRow(item) }];
      for (const id of added) {
        ops.push({ op: "upsert", rk: keys.groupMemberRk(group.id, id), fields: encodeRow({ userId: id }) });
        ops.push({ op: "upsert", rk: keys.userGroupRk(id, group.id), fields: encodeRow(group) });
      }
      for (const id of removed) {
        ops.push({ op: "delete", rk: keys.groupMemberRk(group.id, id) });
        ops.push({ op: "delete", rk: keys.userGroupRk(id, group.id) });
      }
      try {
        await this.rows.transact(this.tables.directory, pk, ops);
        return { added, removed, outbox: item };
      } catch (e) {
        // A delete of a row another writer removed first fails the whole batch: read again and retry.
        if (!(e instanceof ConcurrencyError) || tries >= 5) throw e;
      }
    }
  }
}

/** Ids by the partition of their bucket, each list sorted. */
function byBucket(envId: string, ids: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const id of [...new Set(ids)].sort()) {
    const pk = keys.memberBucketPk(envId, id);
    const list = out.get(pk) ?? [];
    list.push(id);
    out.set(pk, list);
  }
  return out;
}

const membersTokenSchema = z.object({ b: z.string().regex(/^[0-9a-f]{2}$/), c: z.string().max(4000).optional() });

function encodeMembersToken(bucket: string, token: string | undefined): string {
  return encodePageToken({ b: bucket, ...(token ? { c: token } : {}) });
}

function decodeMembersToken(token: string | undefined): { bucket: string; token?: string | undefined } {
  if (token === undefined) return { bucket: "" };
  const t = decodePageToken(membersTokenSchema, token);
  return { bucket: t.b, token: t.c };
}
