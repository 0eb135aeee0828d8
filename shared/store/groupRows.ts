import { ConcurrencyError } from "../errors.js";
import { groupSchema, principalRefSchema, type Group, type PrincipalRef } from "../model/records.js";
import type { OutboxItem } from "../model/outbox.js";
import { queryAll, type RowStore, type WriteOp } from "../ports/rows.js";
import { keys, type TableNames } from "./keys.js";
import { decodeRow, encodeRow } from "./rowJson.js";

/** Row keys named in one `eq` query: short enough for a request URL, many enough to be worth it. */
export const idsPerQuery = 50;

/** Members whose two rows fit one transaction beside the outbox row that fans the change out. */
export const membersPerTransaction = 49;

/**
 * A group's or list's members as rows in the environment's directory partition: `gm|{group}|{user}`
 * (listing a group's members page by page, reading a chunk's membership back) and
 * `ug|{user}|{group}` (a check reads a user's groups by one range). Both rows of a member are written
 * in one transaction, with the outbox row that fans the change out to the members' listings, so the
 * two directions never disagree and a crash loses no fan-out.
 */
export class GroupRows {
  constructor(
    private readonly rows: RowStore,
    private readonly tables: TableNames,
  ) {}

  async get(envId: string, groupId: string): Promise<{ group: Group; etag: string } | undefined> {
    const row = await this.rows.get(this.tables.directory, keys.directoryPk(envId), keys.groupRk(groupId));
    return row && row.etag ? { group: decodeRow(groupSchema, row), etag: row.etag } : undefined;
  }

  /** One page of a group's member ids, in id order. */
  async membersPage(
    envId: string,
    groupId: string,
    continuation: string | undefined,
    pageSize = 1000,
  ): Promise<{ userIds: string[]; continuation?: string | undefined }> {
    const prefix = keys.groupMemberPrefix(groupId);
    const page = await this.rows.queryPage(this.tables.directory, keys.directoryPk(envId), [{ prefix }], {
      continuation,
      pageSize,
    });
    return { userIds: page.rows.map((r) => r.rk.slice(prefix.length)), continuation: page.continuation };
  }

  /** Every member id, page by page (a `PUT` compares the stored membership with the new one). */
  async allMembers(envId: string, groupId: string): Promise<Set<string>> {
    const out = new Set<string>();
    let continuation: string | undefined;
    do {
      const page = await this.membersPage(envId, groupId, continuation);
      for (const id of page.userIds) out.add(id);
      continuation = page.continuation;
    } while (continuation);
    return out;
  }

  /** Which of these users are members now: one query per 50 ids, sent together. */
  async present(envId: string, groupId: string, userIds: readonly string[]): Promise<Set<string>> {
    const prefix = keys.groupMemberPrefix(groupId);
    const chunks: string[][] = [];
    for (let i = 0; i < userIds.length; i += idsPerQuery) chunks.push(userIds.slice(i, i + idsPerQuery));
    const pages = await Promise.all(
      chunks.map((ids) =>
        this.eqRows(
          keys.directoryPk(envId),
          ids.map((id) => keys.groupMemberRk(groupId, id)),
        ),
      ),
    );
    return new Set(pages.flat().map((rk) => rk.slice(prefix.length)));
  }

  /** The groups and lists a user is in: one range of the directory partition. */
  async groupsOf(envId: string, userId: string): Promise<PrincipalRef[]> {
    const rows = await queryAll(this.rows, this.tables.directory, keys.directoryPk(envId), [
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
    outboxFor: (memberIds: string[]) => OutboxItem,
    concurrency = 4,
  ): Promise<{ added: string[]; removed: string[]; outbox: OutboxItem[] }> {
    const wanted = new Map<string, boolean>();
    for (const id of remove) wanted.set(id, false);
    for (const id of add) wanted.set(id, true);
    const ids = [...wanted.keys()].sort();
    const chunks: string[][] = [];
    for (let i = 0; i < ids.length; i += membersPerTransaction) chunks.push(ids.slice(i, i + membersPerTransaction));
    const added: string[] = [];
    const removed: string[] = [];
    const outbox: OutboxItem[] = [];
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++]!;
        const done = await this.applyChunk(envId, group, chunk, wanted, outboxFor);
        added.push(...done.added);
        removed.push(...done.removed);
        if (done.outbox) outbox.push(done.outbox);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, worker));
    return { added: added.sort(), removed: removed.sort(), outbox };
  }

  private async applyChunk(
    envId: string,
    group: PrincipalRef,
    chunk: string[],
    wanted: Map<string, boolean>,
    outboxFor: (memberIds: string[]) => OutboxItem,
  ): Promise<{ added: string[]; removed: string[]; outbox?: OutboxItem }> {
    const pk = keys.directoryPk(envId);
    for (let tries = 1; ; tries++) {
      const present = await this.present(envId, group.id, chunk);
      const added = chunk.filter((id) => wanted.get(id) && !present.has(id));
      const removed = chunk.filter((id) => !wanted.get(id) && present.has(id));
      if (added.length + removed.length === 0) return { added, removed };
      const item = outboxFor([...added, ...removed]);
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

  private async eqRows(pk: string, rks: string[]): Promise<string[]> {
    if (rks.length === 0) return [];
    const rows = await queryAll(
      this.rows,
      this.tables.directory,
      pk,
      rks.map((eq) => ({ eq })),
    );
    return rows.map((r) => r.rk);
  }
}
