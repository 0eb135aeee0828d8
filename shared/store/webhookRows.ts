import type { OutboxItem } from "../model/outbox.js";
import { webhookSubscriptionRecordSchema, type WebhookSubscriptionRecord } from "../model/webhooks.js";
import type { RowStore, WriteOp } from "../ports/rows.js";
import { keys, type TableNames } from "./keys.js";
import { decodeRow, encodeRow } from "./rowJson.js";

/**
 * Webhook subscriptions in the environment's `Directory` partition (`webhook|{subscriptionId}`),
 * each write in one transaction with its change log entry as an outbox row, so the log says exactly
 * what was committed. Writes of an existing row go under the ETag it was read with.
 */
export class WebhookRows {
  constructor(
    private readonly rows: RowStore,
    private readonly tables: TableNames,
  ) {}

  private outboxOps(outbox: readonly OutboxItem[]): WriteOp[] {
    return outbox.map((o): WriteOp => ({ op: "upsert", rk: keys.outboxRk(o.id), fields: encodeRow(o) }));
  }

  /** One point read, with the row's ETag. */
  async get(
    envId: string,
    subscriptionId: string,
  ): Promise<{ record: WebhookSubscriptionRecord; etag: string } | undefined> {
    const row = await this.rows.get(this.tables.directory, keys.directoryPk(envId), keys.webhookRk(subscriptionId));
    return row ? { record: decodeRow(webhookSubscriptionRecordSchema, row), etag: row.etag ?? "*" } : undefined;
  }

  /** One request: a page of the environment's subscriptions, in id order. */
  async page(envId: string, continuation: string | undefined, pageSize: number) {
    const page = await this.rows.queryPage(
      this.tables.directory,
      keys.directoryPk(envId),
      [{ prefix: keys.webhookPrefix }],
      { continuation, pageSize },
    );
    return {
      subscriptions: page.rows.map((r) => decodeRow(webhookSubscriptionRecordSchema, r)),
      continuation: page.continuation,
    };
  }

  /** Inserts a new subscription (ConcurrencyError when the id exists by now) with its outbox rows. */
  async insert(record: WebhookSubscriptionRecord, outbox: readonly OutboxItem[]): Promise<void> {
    await this.rows.transact(this.tables.directory, keys.directoryPk(record.envId), [
      { op: "insert", rk: keys.webhookRk(record.subscriptionId), fields: encodeRow(record) },
      ...this.outboxOps(outbox),
    ]);
  }

  /** Replaces the subscription under `etag` (ConcurrencyError when it changed or went since) with its outbox rows. */
  async replace(record: WebhookSubscriptionRecord, etag: string, outbox: readonly OutboxItem[]): Promise<void> {
    await this.rows.transact(this.tables.directory, keys.directoryPk(record.envId), [
      { op: "replace", rk: keys.webhookRk(record.subscriptionId), fields: encodeRow(record), etag },
      ...this.outboxOps(outbox),
    ]);
  }

  /** Deletes the subscription with its outbox rows; a missing row fails the whole transaction (ConcurrencyError). */
  async delete(envId: string, subscriptionId: string, outbox: readonly OutboxItem[]): Promise<void> {
    await this.rows.transact(this.tables.directory, keys.directoryPk(envId), [
      { op: "delete", rk: keys.webhookRk(subscriptionId) },
      ...this.outboxOps(outbox),
    ]);
  }
}
