import { ConcurrencyError } from "../errors.js";
import { flowCopySchema, type FlowCopy } from "../model/copies.js";
import type { SharingRepository } from "./repository.js";
import { decodeRow, encodeRow } from "./rowJson.js";

/** Layout of the Copies table: one partition per copy, so `GET /api/copies/{id}` is one point read. */
const copyKeys = {
  pk: (copyId: string) => copyId,
  rk: "copy",
};

/** Storage of copies, on the repository's row store and table names. */
export class CopiesRepository {
  constructor(private readonly repo: SharingRepository) {}

  private get table(): string {
    return this.repo.tables.copies;
  }

  async get(copyId: string): Promise<{ copy: FlowCopy; etag: string } | undefined> {
    const row = await this.repo.rows.get(this.table, copyKeys.pk(copyId), copyKeys.rk);
    return row ? { copy: decodeRow(flowCopySchema, row), etag: row.etag ?? "*" } : undefined;
  }

  /** Inserts a new copy; its id is fresh, so an existing row means a bug, not a race. */
  async insert(copy: FlowCopy): Promise<void> {
    await this.repo.rows.transact(this.table, copyKeys.pk(copy.copyId), [
      { op: "insert", rk: copyKeys.rk, fields: encodeRow(copy) },
    ]);
  }

  /** Records the flow made from the copy; true when written, false when the copy changed meanwhile. */
  async replace(copy: FlowCopy, etag: string): Promise<boolean> {
    try {
      await this.repo.rows.transact(this.table, copyKeys.pk(copy.copyId), [
        { op: "replace", rk: copyKeys.rk, fields: encodeRow(copy), etag },
      ]);
      return true;
    } catch (e) {
      if (e instanceof ConcurrencyError) return false;
      throw e;
    }
  }
}
