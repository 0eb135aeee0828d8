import { ConcurrencyError } from "../errors.js";
import type { RowStore } from "../ports/rows.js";
import { webhookDeliveryRecordSchema, type WebhookDeliveryRecord } from "../webhooks/deliveries.js";
import { decodeRow, encodeRow } from "./rowJson.js";

const pk = (envId: string, subscriptionId: string) => `${envId}|${subscriptionId}`;
const rk = (deliveryId: string) => `d|${deliveryId}`;
const deliveryPrefix = "d|";

/**
 * The WebhookDeliveries table: one partition per subscription, one row per event delivered to it
 * (`d|{deliveryId}`, newest first). A row holds the event itself, so every attempt and a redelivery
 * send the same bytes without reading the change log, and its state decides which queued attempt
 * may run (`usecases/webhookDelivery.ts`).
 */
export class WebhookDeliveryRows {
  constructor(
    private readonly rows: RowStore,
    private readonly table: string,
  ) {}

  /** Inserts a new delivery; false when it is there already (the same event delivered before). */
  async insert(record: WebhookDeliveryRecord): Promise<boolean> {
    try {
      await this.rows.transact(this.table, pk(record.envId, record.subscriptionId), [
        { op: "insert", rk: rk(record.deliveryId), fields: encodeRow(record) },
      ]);
      return true;
    } catch (e) {
      if (e instanceof ConcurrencyError) return false;
      throw e;
    }
  }

  /** One point read, with the row's ETag. */
  async get(
    envId: string,
    subscriptionId: string,
    deliveryId: string,
  ): Promise<{ record: WebhookDeliveryRecord; etag: string } | undefined> {
    const row = await this.rows.get(this.table, pk(envId, subscriptionId), rk(deliveryId));
    return row ? { record: decodeRow(webhookDeliveryRecordSchema, row), etag: row.etag ?? "*" } : undefined;
  }

  /** Replaces the delivery under `etag`: ConcurrencyError when another attempt or a redelivery wrote it since. */
  async replace(record: WebhookDeliveryRecord, etag: string): Promise<void> {
    await this.rows.transact(this.table, pk(record.envId, record.subscriptionId), [
      { op: "replace", rk: rk(record.deliveryId), fields: encodeRow(record), etag },
    ]);
  }

  /** One request: a page of the subscription's deliveries, newest first. */
  async page(envId: string, subscriptionId: string, continuation: string | undefined, pageSize: number) {
    const page = await this.rows.queryPage(this.table, pk(envId, subscriptionId), [{ prefix: deliveryPrefix }], {
      continuation,
      pageSize,
    });
    return {
      deliveries: page.rows.map((r) => decodeRow(webhookDeliveryRecordSchema, r)),
      continuation: page.continuation,
    };
  }
}
