import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import {
  webhookBody,
  webhookParams,
  webhookSubscriptionView,
  webhookSubscriptionWithSecret,
} from "../shared/model/webhooks.js";
import { putWebhookSubscription } from "../shared/usecases/webhooks.js";

export const handler = defineHttp(
  {
    name: "putWebhook",
    route: "environments/{envId}/webhooks/{subscriptionId}",
    method: "PUT",
    summary:
      "Creates or replaces a webhook subscription of the environment (environment admins, Sharing.Admin). The URL must be https to a public address. On creation the answer holds the signing secret (whsec_…), shown this once.",
    params: webhookParams,
    body: webhookBody,
    responses: {
      200: { description: "updated (the secret is unchanged and not shown)", schema: webhookSubscriptionView },
      201: { description: "created, with its signing secret (shown only here)", schema: webhookSubscriptionWithSecret },
    },
  },
  async ({ services, caller, params, body }) => {
    const r = await putWebhookSubscription(services.caps, caller, params.envId, params.subscriptionId, body);
    return r.created
      ? typedJson(webhookSubscriptionWithSecret, 201, r.subscription, { "cache-control": "no-store" })
      : typedJson(webhookSubscriptionView, 200, r.subscription);
  },
);
