import { app } from "@azure/functions";
import { invitationSettings } from "../shared/invitations/links.js";
import { getServices, startServices } from "../shared/main.js";
import { emailQueueName } from "../shared/appContract.js";
import { handleEmailMessage } from "../shared/usecases/email/mailer.js";

// Settings are checked as this module loads, so a bad one fails the app at start.
startServices();

/**
 * Sends what the outbound email queue asks for, once each (see `shared/usecases/email/mailer.ts`). A
 * transient failure throws, so the host redelivers; after the fifth dequeue the message goes to
 * `outbound-email-poison` and the invitation reads `failed`.
 */
app.storageQueue("mailer", {
  queueName: emailQueueName,
  connection: "AzureWebJobsStorage",
  handler: async (message, context) => {
    const services = getServices();
    const meta = context.triggerMetadata ?? {};
    const delivery = {
      messageId: typeof meta.id === "string" ? meta.id : undefined,
      dequeueCount: typeof meta.dequeueCount === "number" ? meta.dequeueCount : Number(meta.dequeueCount ?? 1) || 1,
    };
    const deps = {
      ...services.caps,
      log: (m: string) => context.warn(m),
      sender: services.emailSender(),
      invitations: invitationSettings(services.settings),
      reportTtlDays: services.settings.REPORT_TTL_DAYS,
    };
    const outcome = await handleEmailMessage(deps, message, delivery);
    context.log(`${outcome.result}: ${outcome.detail}`);
  },
});
