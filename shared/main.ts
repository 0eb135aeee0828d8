import { AzureRowStore } from "./adapters/tables/azureRowStore.js";
import { StorageEmailQueue } from "./adapters/queues/storageEmailQueue.js";
import { createAuthenticator } from "./adapters/http/auth.js";
import { createAcsEmailSender } from "./adapters/email/acsEmailSender.js";
import type { EmailSender } from "./ports/email.js";
import { emailQueueName } from "./appContract.js";
import { managedIdentity } from "./adapters/identity.js";
import { parseSettings, storageTarget, type Settings } from "./config.js";
import { tableNames } from "./store/keys.js";
import { openStores } from "./store/stores.js";
import { sortableId, type Caller, type Capabilities } from "./usecases/capabilities.js";

/** The composition root: settings parsed once, the real adapters built once per process. */
export interface Services {
  settings: Settings;
  caps: Capabilities;
  authenticate: (authorization: string | null | undefined) => Promise<Caller>;
  /** The email service (ACS, or the local sink), built on first use so a bad ACS setting fails only the mailer. */
  emailSender: () => EmailSender;
}

let services: Services | undefined;

export function getServices(): Services {
  if (!services) {
    const settings = parseSettings(process.env);
    const target = storageTarget(settings);
    // In Azure, shared keys are off: the app reaches storage with its managed identity.
    const credential = "connectionString" in target ? undefined : managedIdentity(target.clientId);
    const rows = new AzureRowStore(
      "connectionString" in target
        ? { connectionString: target.connectionString }
        : { endpoint: target.tableServiceUri, credential },
    );
    const caps: Capabilities = {
      ...openStores(rows, tableNames(settings.TABLE_PREFIX)),
      emailQueue: new StorageEmailQueue(
        "connectionString" in target ? target : { queueServiceUri: target.queueServiceUri, credential: credential! },
        emailQueueName,
      ),
      clock: () => new Date(),
      newId: () => sortableId(),
      invitationTtlDays: settings.INVITATION_TTL_DAYS,
      log: (m) => console.warn(m),
    };
    let emailSender: EmailSender | undefined;
    services = {
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
  return services;
}
