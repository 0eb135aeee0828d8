import { ConcurrencyError } from "../errors.js";
import { outboxItemSchema, type OutboxItem } from "../model/outbox.js";
import { queryAll, type RowStore, type WriteOp } from "../ports/rows.js";
import { keys, type TableNames } from "./keys.js";
import { decodeRow } from "./rowJson.js";

/**
 * The tables whose partitions hold outbox rows, written in the same transaction as the change they
 * follow. An audit's partition (`audits`) holds its completion's log item; the sweeper doesn't scan
 * that table (its finding chunks grow with every audit): the audit's `pending` row, removed only
 * once the item is relayed, brings the runner back to relay it (`usecases/audits/run.ts`). A review
 * instance's partition (`reviews`) holds its finish's log entry and summary email the same way,
 * brought back by its `open` row (`usecases/reviews/runner.ts`).
 */
export type OutboxTable = "resources" | "directory" | "principals" | "environments" | "audits" | "reviews";

/**
 * The outbox rows as the relay sees them: read a partition's items, delete the applied ones, and find
 * the partitions a crash left items in. The rows themselves are written by the repository, inside
 * the transaction of the change they belong to.
 */
export class OutboxRows {
  constructor(
    private readonly rows: RowStore,
    private readonly tables: TableNames,
  ) {}

  async items(table: OutboxTable, pk: string): Promise<{ item: OutboxItem; etag: string }[]> {
    const rows = await queryAll(this.rows, this.tables[table], pk, [{ prefix: keys.outboxPrefix }]);
    return rows.map((r) => ({ item: decodeRow(outboxItemSchema, r), etag: r.etag ?? "*" }));
  }

  /** Deletes applied outbox rows in one transaction (per 100); rows another relay already removed are skipped. */
  async delete(table: OutboxTable, pk: string, ids: readonly string[]): Promise<void> {
    for (let n = 0; n < ids.length; n += 100) {
      const chunk = ids.slice(n, n + 100);
      try {
        await this.rows.transact(
          this.tables[table],
          pk,
          chunk.map((id): WriteOp => ({ op: "delete", rk: keys.outboxRk(id) })),
        );
      } catch (e) {
        // A batch fails whole when one row is gone (the sweeper and a relay met): delete one by one.
        if (!(e instanceof ConcurrencyError)) throw e;
        for (const id of chunk) await this.rows.delete(this.tables[table], pk, keys.outboxRk(id));
      }
    }
  }

  /** Partitions with outbox rows left behind by a crash, across the tables that hold them. */
  async *pendingPartitions(): AsyncIterable<{ table: OutboxTable; pk: string }> {
    for (const table of ["resources", "directory", "principals", "environments"] as const) {
      const seen = new Set<string>();
      for await (const page of this.rows.scanPages(this.tables[table], keys.outboxPrefix)) {
        for (const row of page) {
          if (seen.has(row.pk)) continue;
          seen.add(row.pk);
          yield { table, pk: row.pk };
        }
      }
    }
  }
}
