import { indexEntrySchema, type IndexEntry, type PrincipalRef } from "../model/records.js";
import { queryAll, type Row, type RowStore, type WriteOp } from "../ports/rows.js";
import { keys, throughKey, type TableNames } from "./keys.js";
import { decodeRow, encodeRow, sameRecord } from "./rowJson.js";

/**
 * The writing side of the per-principal index (`env|{envId}|res|…` rows in each principal's
 * partition), which the relay keeps in line with each resource's grants. The listing reads it
 * together with the membership row, through the repository's `principalIndexPage`.
 */
export class PrincipalIndexRows {
  constructor(
    private readonly rows: RowStore,
    private readonly tables: TableNames,
  ) {}

  async rowsFor(principal: PrincipalRef, envId: string, resourceId: string): Promise<Row[]> {
    return queryAll(this.rows, this.tables.principals, keys.principalPk(principal), [
      { prefix: keys.indexResourcePrefix(envId, resourceId) },
    ]);
  }

  /** Brings one principal's index rows for one resource to exactly `wanted`, in one transaction. */
  async set(principal: PrincipalRef, envId: string, resourceId: string, wanted: IndexEntry[]): Promise<void> {
    const existing = await this.rowsFor(principal, envId, resourceId);
    const wantedRows = new Map(
      wanted.map((w) => [keys.indexRk(envId, resourceId, w.role, throughKey(w.through)), encodeRow(w)] as const),
    );
    const ops: WriteOp[] = [];
    for (const [rk, fields] of wantedRows) {
      const current = existing.find((e) => e.rk === rk);
      if (!current || !sameRecord(current.fields, fields)) ops.push({ op: "upsert", rk, fields });
    }
    for (const e of existing) if (!wantedRows.has(e.rk)) ops.push({ op: "delete", rk: e.rk });
    for (let i = 0; i < ops.length; i += 100) {
      await this.rows.transact(this.tables.principals, keys.principalPk(principal), ops.slice(i, i + 100));
    }
  }

  /** The distinct resources in a group's (or list's) index, for bringing a new member's rows in line. */
  async resources(envId: string, principal: PrincipalRef): Promise<string[]> {
    const rows = await queryAll(this.rows, this.tables.principals, keys.principalPk(principal), [
      { prefix: keys.indexPrefix(envId) },
    ]);
    return [...new Set(rows.map((r) => decodeRow(indexEntrySchema, r).resourceId))];
  }
}
