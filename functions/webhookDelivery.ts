import { app } from "@azure/functions";
import { webhookQueueName } from "../shared/appContract.js";
import { getServices, startServices } from "../shared/main.js";
import { handleWebhookMessage } from "../shared/usecases/webhookDelivery.js";
import { webhookMessageSchema } from "../shared/webhooks/messages.js";

// Settings are checked as this module loads, so a bad one fails the app at start.
startServices();

/**
 * Delivers webhook events (`shared/usecases/webhookDelivery.ts`): an event message becomes one
 * delivery per subscription that wants it, an attempt message posts one signed attempt. Retries of a
 * receiver's failure are new messages with the schedule's visibility delay; a failure of our own
 * (storage, the queue) throws, so the host redelivers, and after the fifth dequeue the message goes
 * to `webhook-delivery-poison`.
 */
app.storageQueue("webhookDelivery", {
  queueName: webhookQueueName,
  connection: "AzureWebJobsStorage",
  handler: async (message, context) => {
    const parsed = webhookMessageSchema.safeParse(message);
    if (!parsed.success) {
      // Not ours to retry: a message no version of this app wrote.
      context.error(`dropped a malformed webhook message: ${parsed.error.message}`);
      return;
    }
    const meta = context.triggerMetadata ?? {};
    const dequeueCount =
      typeof meta.dequeueCount === "number" ? meta.dequeueCount : Number(meta.dequeueCount ?? 1) || 1;
    const services = getServices();
    const outcome = await handleWebhookMessage({ ...services.caps, log: (m: string) => context.warn(m) }, parsed.data, {
      dequeueCount,
    });
    context.log(outcome);
  },
});
