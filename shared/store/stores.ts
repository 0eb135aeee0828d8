import type { RowStore } from "../ports/rows.js";
import { AuditsRepository } from "./auditsRepository.js";
import { CopiesRepository } from "./copiesRepository.js";
import { EmailRecords } from "./emailRecords.js";
import { IdempotencyStore } from "./idempotencyRows.js";
import type { TableNames } from "./keys.js";
import { OffboardingsRepository } from "./offboardingsRepository.js";
import { ReassignmentsRepository } from "./reassignmentsRepository.js";
import { SharingRepository } from "./repository.js";
import { ReviewRows } from "./reviewRows.js";
import { WebhookDeliveryRows } from "./webhookDeliveryRows.js";

/**
 * The repository and the stores of the lifecycle tables on top of it, built together so that every
 * place that builds `Capabilities` (`shared/main.ts`, the tests, the bench) gets the same set over one
 * row store, and no use case builds storage of its own.
 */
export function openStores(rows: RowStore, tables: TableNames, now?: () => Date) {
  const repo = new SharingRepository(rows, tables, now);
  return {
    repo,
    audits: new AuditsRepository(repo),
    copies: new CopiesRepository(repo),
    reassignments: new ReassignmentsRepository(repo),
    offboardings: new OffboardingsRepository(repo),
    emailRecords: new EmailRecords(repo),
    idempotency: new IdempotencyStore(rows, tables.idempotency),
    webhookDeliveries: new WebhookDeliveryRows(rows, tables.webhookDeliveries),
    reviews: new ReviewRows(rows, tables.reviews),
  };
}
