import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { idSchema } from "../shared/model/records.js";
import { webhookParams } from "../shared/model/webhooks.js";
import { redeliverWebhook } from "../shared/usecases/webhookDelivery.js";
import { webhookDeliverySchema } from "../shared/webhooks/deliveries.js";

export const handler = defineHttp(
  {
    name: "redeliverWebhook",
    route: "environments/{envId}/webhooks/{subscriptionId}/deliveries/{deliveryId}/redeliver",
    method: "POST",
    summary:
      "Starts a delivered or failed delivery over: the same event, with the same webhook-id, its first attempt queued (environment admins, Sharing.Admin). 409 while its retries are under way or the subscription is disabled.",
    params: webhookParams.extend({ deliveryId: idSchema }),
    responses: { 202: { description: "the delivery, pending again", schema: webhookDeliverySchema } },
  },
  async ({ services, caller, params }) =>
    typedJson(
      webhookDeliverySchema,
      202,
      await redeliverWebhook(services.caps, caller, params.envId, params.subscriptionId, params.deliveryId),
    ),
);
