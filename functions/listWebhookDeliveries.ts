import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { pageOf, pageQuery } from "../shared/model/api.js";
import { webhookParams } from "../shared/model/webhooks.js";
import { listWebhookDeliveries } from "../shared/usecases/webhookDelivery.js";
import { webhookDeliverySchema } from "../shared/webhooks/deliveries.js";

const answer = pageOf(webhookDeliverySchema);

export const handler = defineHttp(
  {
    name: "listWebhookDeliveries",
    route: "environments/{envId}/webhooks/{subscriptionId}/deliveries",
    method: "GET",
    summary:
      "The subscription's deliveries, newest first, paged: each event, its attempts, the last status and error, the first KiB of a failed answer, and when the next attempt is due (environment admins, Sharing.Admin).",
    params: webhookParams,
    query: pageQuery,
    responses: { 200: { description: "a page of deliveries", schema: answer } },
  },
  async ({ services, caller, params, query }) =>
    typedJson(
      answer,
      200,
      await listWebhookDeliveries(services.caps, caller, params.envId, params.subscriptionId, query),
    ),
);
