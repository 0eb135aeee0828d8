import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { envParams, pageOf, pageQuery } from "../shared/model/api.js";
import { webhookSubscriptionView } from "../shared/model/webhooks.js";
import { listWebhookSubscriptions } from "../shared/usecases/webhooks.js";

const answer = pageOf(webhookSubscriptionView);

export const handler = defineHttp(
  {
    name: "listWebhooks",
    route: "environments/{envId}/webhooks",
    method: "GET",
    summary:
      "The environment's webhook subscriptions in id order, paged, without their secrets (environment admins, Sharing.Admin).",
    params: envParams,
    query: pageQuery,
    responses: { 200: { description: "a page of subscriptions", schema: answer } },
  },
  async ({ services, caller, params, query }) =>
    typedJson(answer, 200, await listWebhookSubscriptions(services.caps, caller, params.envId, query)),
);
