/**
 * The use cases in the test process on a running stack's storage and queues, as another instance
 * of the app would run them (a process that dies, a use case driven past the host).
 */
import { StorageQueue } from "../../shared/adapters/queues/storageQueue.js";
import { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import { webhookTargetGuard } from "../../shared/adapters/http/ssrfGuard.js";
import { emailQueueName, fanoutQueueName, webhookQueueName } from "../../shared/appContract.js";
import { postWebhook } from "../../shared/adapters/http/webhookSender.js";
import type { WebhookMessage } from "../../shared/webhooks/messages.js";
import type { EmailJob } from "../../shared/model/emailJobs.js";
import type { FanoutMessage } from "../../shared/model/fanout.js";
import type { RowStore } from "../../shared/ports/rows.js";
import { tableNames } from "../../shared/store/keys.js";
import { openStores } from "../../shared/store/stores.js";
import { sortableId, type Capabilities } from "../../shared/usecases/capabilities.js";
import type { Stack } from "./stack.js";

export function stackCaps(
  stack: Stack,
  options: { rows?: RowStore; emailQueue?: Capabilities["emailQueue"]; log?: (m: string) => void } = {},
): Capabilities {
  const connectionString = stack.storageConnectionString;
  return {
    ...openStores(
      options.rows ?? new AzureRowStore({ connectionString }),
      tableNames(stack.settings.TABLE_PREFIX ?? "sharing"),
    ),
    emailQueue: options.emailQueue ?? new StorageQueue<EmailJob>({ connectionString }, emailQueueName),
    fanoutQueue: new StorageQueue<FanoutMessage>({ connectionString }, fanoutQueueName),
    webhookQueue: new StorageQueue<WebhookMessage>({ connectionString }, webhookQueueName),
    clock: () => new Date(),
    newId: () => sortableId(),
    invitationTtlDays: 14,
    checkWebhookTarget: webhookTargetGuard({ allowLoopbackHttp: true }),
    deliverWebhook: (attempt) => postWebhook({ ...attempt, check: webhookTargetGuard({ allowLoopbackHttp: true }) }),
    log: options.log ?? (() => undefined),
  };
}
