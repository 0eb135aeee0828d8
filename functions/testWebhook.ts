import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { webhookParams } from "../shared/model/webhooks.js";
import { sendTestEvent } from "../shared/usecases/webhookDelivery.js";
import { webhookDeliverySchema } from "../shared/webhooks/deliveries.js";

export const handler = defineHttp(
  {
    name: "testWebhook",
    route: "environments/{envId}/webhooks/{subscriptionId}/test",
    method: "POST",
    summary:
      "Sends a `sharing.webhook.test` event to the subscription, whatever event types it names, and answers with the delivery after its first attempt (made while the request waits, up to 15 s); a failed attempt is retried like any delivery (environment admins, Sharing.Admin). 409 when the subscription is disabled.",
    params: webhookParams,
    responses: { 200: { description: "the delivery after its first attempt", schema: webhookDeliverySchema } },
  },
  async ({ services, caller, params }) =>
    typedJson(
      webhookDeliverySchema,
      200,
      await sendTestEvent(services.caps, caller, params.envId, params.subscriptionId),
    ),
);
