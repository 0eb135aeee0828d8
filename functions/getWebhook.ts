import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { webhookParams, webhookSubscriptionView } from "../shared/model/webhooks.js";
import { getWebhookSubscription } from "../shared/usecases/webhooks.js";

export const handler = defineHttp(
  {
    name: "getWebhook",
    route: "environments/{envId}/webhooks/{subscriptionId}",
    method: "GET",
    summary: "A webhook subscription of the environment, without its secret (environment admins, Sharing.Admin).",
    params: webhookParams,
    responses: { 200: { description: "the subscription", schema: webhookSubscriptionView } },
  },
  async ({ services, caller, params }) =>
    typedJson(
      webhookSubscriptionView,
      200,
      await getWebhookSubscription(services.caps, caller, params.envId, params.subscriptionId),
    ),
);
