import type { OutboxItem } from "../model/outbox.js";
import { scimTokenRecordSchema, type ScimTokenRecord } from "../model/scim.js";
import type { RowStore, WriteOp } from "../ports/rows.js";
import { keys, type TableNames } from "./keys.js";
import { decodeRow, encodeRow } from "./rowJson.js";

/**
 * Provisioning secrets in the environment's `Directory` partition (`scimtoken|{tokenId}`), each
 * written with its change log entry as an outbox row of the same transaction. A revoked token's row
 * is deleted: the change log keeps who created and revoked it, and the partition never holds more
 * than the few tokens an environment may have.
 */
export class ScimTokenRows {
  constructor(
    private readonly rows: RowStore,
    private readonly tables: TableNames,
  ) {}

  /** One point read, with the row's ETag (for `touch`). */
  async get(envId: string, tokenId: string): Promise<{ record: ScimTokenRecord; etag: string } | undefined> {
    const row = await this.rows.get(this.tables.directory, keys.directoryPk(envId), keys.scimTokenRk(tokenId));
    return row ? { record: decodeRow(scimTokenRecordSchema, row), etag: row.etag ?? "*" } : undefined;
  }

  /** One request: a page of the environment's tokens, oldest first (ids sort by creation time). */
  async page(envId: string, continuation: string | undefined, pageSize: number) {
    const page = await this.rows.queryPage(
      this.tables.directory,
      keys.directoryPk(envId),
      [{ prefix: keys.scimTokenPrefix }],
      { continuation, pageSize },
    );
    return { tokens: page.rows.map((r) => decodeRow(scimTokenRecordSchema, r)), continuation: page.continuation };
  }

  /** Inserts the token (an existing id is a ConcurrencyError) with its outbox rows. */
  async insert(record: ScimTokenRecord, outbox: readonly OutboxItem[]): Promise<void> {
    await this.rows.transact(this.tables.directory, keys.directoryPk(record.envId), [
      { op: "insert", rk: keys.scimTokenRk(record.tokenId), fields: encodeRow(record) },
      ...outbox.map((o): WriteOp => ({ op: "upsert", rk: keys.outboxRk(o.id), fields: encodeRow(o) })),
    ]);
  }

  /**
   * Deletes the token with its outbox rows. A delete in a transaction fails whole on a missing row
   * (ConcurrencyError), so of two concurrent revokes one writes its log entry and the other finds nothing.
   */
  async delete(envId: string, tokenId: string, outbox: readonly OutboxItem[]): Promise<void> {
    await this.rows.transact(this.tables.directory, keys.directoryPk(envId), [
      { op: "delete", rk: keys.scimTokenRk(tokenId) },
      ...outbox.map((o): WriteOp => ({ op: "upsert", rk: keys.outboxRk(o.id), fields: encodeRow(o) })),
    ]);
  }

  /**
   * Records `lastUsedAt` by replacing the row under the ETag it was read with, so a token revoked
   * meanwhile is never brought back (the replace fails on a missing row).
   */
  async touch(record: ScimTokenRecord, etag: string, at: string): Promise<void> {
    await this.rows.transact(this.tables.directory, keys.directoryPk(record.envId), [
      { op: "replace", rk: keys.scimTokenRk(record.tokenId), fields: encodeRow({ ...record, lastUsedAt: at }), etag },
    ]);
  }
}
