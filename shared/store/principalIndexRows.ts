import { indexEntrySchema, isExpired, type IndexEntry, type PrincipalRef } from "../model/records.js";
import type { Role } from "../rules/matrix.js";
import type { RowStore, WriteOp } from "../ports/rows.js";
import { existingKeys } from "./existingKeys.js";
import type { Resource } from "../model/records.js";
import { keys, throughKey, type TableNames } from "./keys.js";
import { decodeRow, encodeRow } from "./rowJson.js";

/** Each expiring role's `expiresAt` on one index row. */
export type Expiries = Partial<Record<Role, string>>;

/**
 * The writing side of the per-principal index: in each principal's partition one row per resource
 * and path (`env|{envId}|res|{resourceId}|{direct | group.G | sharePointList.L}`) holding the roles
 * that path gives. A path's row is written or deleted whole, without reading it first, so the
 * named principals of a share cost one write each and a group's fan-out one write per member. The
 * listing reads the rows through the repository's `principalIndexPage`.
 */
export class PrincipalIndexRows {
  constructor(
    private readonly rows: RowStore,
    private readonly tables: TableNames,
    private readonly now: () => Date = () => new Date(),
  ) {}

  static entry(
    resource: Pick<Resource, "resourceId" | "kind" | "displayName">,
    roles: Role[],
    through: IndexEntry["through"],
    expiries?: Expiries,
  ): IndexEntry {
    const sorted = [...roles].sort();
    const kept = Object.entries(expiries ?? {}).filter(([r]) => sorted.includes(r as Role));
    return {
      resourceId: resource.resourceId,
      roles: sorted,
      through,
      kind: resource.kind,
      displayName: resource.displayName,
      ...(kept.length > 0 ? { expiries: Object.fromEntries(kept.sort()) as Expiries } : {}),
    };
  }

  /** The row as it reads at `now`: roles past their expiry dropped, none left means no row (docs/expiry.md). */
  static live(e: IndexEntry, now: Date): IndexEntry | undefined {
    if (!e.expiries) return e;
    const roles = e.roles.filter((r) => !isExpired(e.expiries?.[r], now));
    if (roles.length === e.roles.length) return e;
    return roles.length === 0 ? undefined : PrincipalIndexRows.entry(e, roles, e.through, e.expiries);
  }

  static rk(envId: string, resourceId: string, through: IndexEntry["through"]): string {
    return keys.indexRk(envId, resourceId, throughKey(through));
  }

  /**
   * Sets one path's row: written when it gives roles, deleted (if there) when it gives none. One
   * request. The resource's kind and name are needed only for a row that is written (a deleted
   * resource has none to give).
   */
  async set(
    principal: PrincipalRef,
    envId: string,
    resourceId: string,
    through: IndexEntry["through"],
    roles: Role[],
    resource: Pick<Resource, "kind" | "displayName"> | undefined,
    expiries?: Expiries,
  ): Promise<void> {
    const pk = keys.principalPk(principal);
    const rk = PrincipalIndexRows.rk(envId, resourceId, through);
    if (roles.length === 0) await this.rows.delete(this.tables.principals, pk, rk);
    else if (!resource) throw new Error(`an index row of ${resourceId} with roles needs the resource's kind and name`);
    else
      await this.rows.transact(this.tables.principals, pk, [
        {
          op: "upsert",
          rk,
          fields: encodeRow(PrincipalIndexRows.entry({ ...resource, resourceId }, roles, through, expiries)),
        },
      ]);
  }

  /** Writes rows of one principal, 100 a transaction. */
  async putMany(principal: PrincipalRef, envId: string, entries: readonly IndexEntry[]): Promise<void> {
    const ops: WriteOp[] = entries.map((e) => ({
      op: "upsert",
      rk: PrincipalIndexRows.rk(envId, e.resourceId, e.through),
      fields: encodeRow(e),
    }));
    for (let i = 0; i < ops.length; i += 100)
      await this.rows.transact(this.tables.principals, keys.principalPk(principal), ops.slice(i, i + 100));
  }

  /** Deletes those of these rows that exist: one read, then one transaction per 100. */
  async deleteMany(principal: PrincipalRef, rks: readonly string[]): Promise<void> {
    if (rks.length === 0) return;
    const pk = keys.principalPk(principal);
    const found = await existingKeys(
      this.rows,
      this.tables.principals,
      rks.map((rk) => ({ pk, rk })),
    );
    const existing = rks.filter((rk) => found.has(`${pk}|${rk}`));
    for (let i = 0; i < existing.length; i += 100) {
      const chunk = existing.slice(i, i + 100);
      try {
        await this.rows.transact(
          this.tables.principals,
          pk,
          chunk.map((rk): WriteOp => ({ op: "delete", rk })),
        );
      } catch {
        // Another writer removed one first: one by one, each tolerant of a missing row.
        for (const rk of chunk) await this.rows.delete(this.tables.principals, pk, rk);
      }
    }
  }

  /** A group's or list's own rows (the resources it holds roles on), a page at a time, in resource order. */
  async ownPage(
    envId: string,
    principal: PrincipalRef,
    continuation: string | undefined,
    pageSize = 100,
  ): Promise<{ entries: IndexEntry[]; continuation?: string | undefined }> {
    const page = await this.rows.queryPage(
      this.tables.principals,
      keys.principalPk(principal),
      [{ prefix: keys.indexPrefix(envId) }],
      { continuation, pageSize },
    );
    const now = this.now();
    return {
      entries: page.rows
        .map((r) => PrincipalIndexRows.live(decodeRow(indexEntrySchema, r), now))
        .filter((e): e is IndexEntry => e !== undefined && e.through === "direct"),
      continuation: page.continuation,
    };
  }
}
