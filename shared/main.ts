import { AzureRowStore } from "./adapters/tables/azureRowStore.js";
import { StorageQueue } from "./adapters/queues/storageQueue.js";
import { createAuthenticator } from "./adapters/http/auth.js";
import { webhookTargetGuard } from "./adapters/http/ssrfGuard.js";
import { createAcsEmailSender } from "./adapters/email/acsEmailSender.js";
import type { EmailSender } from "./ports/email.js";
import type { FanoutMessage } from "./model/fanout.js";
import { emailQueueName, fanoutQueueName, webhookQueueName } from "./appContract.js";
import { postWebhook } from "./adapters/http/webhookSender.js";
import type { WebhookMessage } from "./webhooks/messages.js";
import { managedIdentity } from "./adapters/identity.js";
import { parseSettings, storageTarget, type Settings } from "./config.js";
import { tableNames } from "./store/keys.js";
import { openStores } from "./store/stores.js";
import { sortableId, type Caller, type Capabilities } from "./usecases/capabilities.js";

/** The composition root: settings parsed once, at start, and the real adapters built once per process. */
export interface Services {
  settings: Settings;
  caps: Capabilities;
  authenticate: (authorization: string | null | undefined) => Promise<Caller>;
  /** The email service (ACS, or the local sink), built on first use so a bad ACS setting fails only the mailer. */
  emailSender: () => EmailSender;
}

let services: Services | undefined;

/** The real adapters, built from parsed settings. Nothing here reaches the network until it is used. */
export function createServices(settings: Settings): Services {
  const target = storageTarget(settings);
  // In Azure, shared keys are off: the app reaches storage with its managed identity.
  const credential = "connectionString" in target ? undefined : managedIdentity(target.clientId);
  const rows = new AzureRowStore(
    "connectionString" in target
      ? { connectionString: target.connectionString }
      : { endpoint: target.tableServiceUri, credential },
  );
  const queueTarget =
    "connectionString" in target ? target : { queueServiceUri: target.queueServiceUri, credential: credential! };
  const checkWebhookTarget = webhookTargetGuard({ allowLoopbackHttp: settings.WEBHOOK_ALLOW_LOOPBACK_HTTP });
  const caps: Capabilities = {
    ...openStores(rows, tableNames(settings.TABLE_PREFIX)),
    emailQueue: new StorageQueue(queueTarget, emailQueueName),
    fanoutQueue: new StorageQueue<FanoutMessage>(queueTarget, fanoutQueueName),
    webhookQueue: new StorageQueue<WebhookMessage>(queueTarget, webhookQueueName),
    clock: () => new Date(),
    newId: () => sortableId(),
    invitationTtlDays: settings.INVITATION_TTL_DAYS,
    checkWebhookTarget,
    deliverWebhook: (attempt) => postWebhook({ ...attempt, check: checkWebhookTarget }),
    log: (m) => console.warn(m),
  };
  let emailSender: EmailSender | undefined;
  return {
    settings,
    caps,
    authenticate: createAuthenticator(settings),
    emailSender: () =>
      (emailSender ??= createAcsEmailSender({
        connectionString: settings.ACS_CONNECTION_STRING,
        senderAddress: settings.EMAIL_SENDER,
      })),
  };
}

/**
 * Parses the settings and builds the services, once per process. Every function module calls this as
 * it registers (`defineHttp` does it for HTTP functions), and the Functions worker loads every module
 * when the app starts: a bad setting fails the start with a `SettingsError` naming each bad setting,
 * one per line, not the first request with a 500.
 */
export function startServices(env: Record<string, string | undefined> = process.env): Services {
  services ??= createServices(parseSettings(env));
  return services;
}

/**
 * The test seam: handlers use `s` from now on instead of services built from settings. Call it before
 * importing function modules, so their registration finds services and reads no environment.
 */
export function useServices(s: Services): void {
  services = s;
}

/** The services handlers run with: those built at start (or given by `useServices`). */
export function getServices(): Services {
  return services ?? startServices();
}
