import { z } from "zod";
import { expiryRowSchema, type ExpiryRow } from "../model/expiry.js";
import type { RowStore } from "../ports/rows.js";
import { queryAll } from "../ports/rows.js";
import type { TableNames } from "./keys.js";
import { decodeRow, encodeRow } from "./rowJson.js";

/**
 * The expiry index (docs/expiry.md): in the `Directory` table, partition `expiry|{YYYY-MM-DD}` (the
 * day a step falls due, or the day it was written if that is later), row key
 * `{dueAt}|{step}|{envId}|{resourceId}|{type}|{principalId}|{role}|{expiresAt}`. Ids hold no `|`, so
 * no key reaches into another, and a day's due rows are one range up to now. The timer reads only
 * the days from its cursor (`expiry|cursor`, `cursor`) to today, so it never scans the grants.
 */
export const expiryKeys = {
  dayPk: (day: string) => `expiry|${day}`,
  rk: (r: ExpiryRow) =>
    [r.dueAt, r.step, r.envId, r.resourceId, r.principal.type, r.principal.id, r.role, r.expiresAt].join("|"),
  cursorPk: "expiry|cursor",
  cursorRk: "cursor",
};

export const dayOf = (t: Date | number) => new Date(t).toISOString().slice(0, 10);
const cursorSchema = z.object({ day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/) });

export class ExpiryRows {
  constructor(
    private readonly rows: RowStore,
    private readonly tables: TableNames,
  ) {}

  /**
   * Upserts the rows (idempotent: a second relay writes the same keys). A row lands in the partition
   * of its due day, or of today when that is later, so the timer, whose cursor never passes today,
   * finds even a row written late.
   */
  async put(rows: readonly ExpiryRow[], now: Date): Promise<void> {
    await Promise.all(
      rows.map((r) =>
        this.rows.transact(
          this.tables.directory,
          expiryKeys.dayPk(dayOf(Math.max(Date.parse(r.dueAt), now.getTime()))),
          [{ op: "upsert", rk: expiryKeys.rk(r), fields: encodeRow(r) }],
        ),
      ),
    );
  }

  /** The rows of one day due by `now`: one range query (plus pages). */
  async dueOn(day: string, now: Date): Promise<{ row: ExpiryRow; pk: string; rk: string }[]> {
    const pk = expiryKeys.dayPk(day);
    // Every key due by now starts with an instant <= now's, then `|`; `}` sorts after `|`.
    const found = await queryAll(this.rows, this.tables.directory, pk, [{ from: "0", to: `${now.toISOString()}}` }]);
    return found.map((r) => ({ row: decodeRow(expiryRowSchema, r), pk, rk: r.rk }));
  }

  async remove(pk: string, rk: string): Promise<void> {
    await this.rows.delete(this.tables.directory, pk, rk);
  }

  /** The earliest day that may still hold due rows; undefined before the first run. */
  async cursor(): Promise<string | undefined> {
    const row = await this.rows.get(this.tables.directory, expiryKeys.cursorPk, expiryKeys.cursorRk);
    return row ? decodeRow(cursorSchema, row).day : undefined;
  }

  async setCursor(day: string): Promise<void> {
    await this.rows.transact(this.tables.directory, expiryKeys.cursorPk, [
      { op: "upsert", rk: expiryKeys.cursorRk, fields: encodeRow({ day }) },
    ]);
  }
}
