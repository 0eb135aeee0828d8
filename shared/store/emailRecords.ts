import { ConcurrencyError } from "../errors.js";
import { emailRecordSchema, type EmailRecord } from "../model/emailRecords.js";
import type { SharingRepository } from "./repository.js";
import { decodeRow, encodeRow } from "./rowJson.js";

/**
 * Layout: one row per email in the environment's partition of the Directory table, row key
 * `email|{operationId}` (no other row key there starts with `email|`). Point reads and ETag-guarded
 * writes only; nothing lists them.
 */
const emailKeys = {
  pk: (envId: string) => envId,
  rk: (operationId: string) => `email|${operationId}`,
};

/** Storage of email records, on the repository's row store and table names. */
export class EmailRecords {
  constructor(private readonly repo: SharingRepository) {}

  private get table(): string {
    return this.repo.tables.directory;
  }

  async get(envId: string, operationId: string): Promise<{ record: EmailRecord; etag: string } | undefined> {
    const row = await this.repo.rows.get(this.table, emailKeys.pk(envId), emailKeys.rk(operationId));
    return row ? { record: decodeRow(emailRecordSchema, row), etag: row.etag ?? "*" } : undefined;
  }

  /**
   * Writes a record: inserted when `etag` is "new" (fails if another delivery inserted it first),
   * replaced under its ETag otherwise.
   *
   * @returns the new ETag, or undefined when another writer got there first (re-read and decide again).
   */
  async put(envId: string, record: EmailRecord, etag: string | "new"): Promise<string | undefined> {
    const rk = emailKeys.rk(record.operationId);
    try {
      const etags = await this.repo.rows.transact(this.table, emailKeys.pk(envId), [
        etag === "new"
          ? { op: "insert", rk, fields: encodeRow(record) }
          : { op: "replace", rk, fields: encodeRow(record), etag },
      ]);
      return etags.get(rk) ?? "*";
    } catch (e) {
      if (e instanceof ConcurrencyError) return undefined;
      throw e;
    }
  }
}
