import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { webhookParams, webhookSubscriptionWithSecret } from "../shared/model/webhooks.js";
import { rotateWebhookSecret } from "../shared/usecases/webhooks.js";

export const handler = defineHttp(
  {
    name: "rotateWebhookSecret",
    route: "environments/{envId}/webhooks/{subscriptionId}/rotate",
    method: "POST",
    summary:
      "Issues a new signing secret for the subscription, shown this once; the previous one keeps signing beside it for 24 hours (environment admins, Sharing.Admin).",
    params: webhookParams,
    responses: { 200: { description: "the subscription with its new secret", schema: webhookSubscriptionWithSecret } },
  },
  async ({ services, caller, params }) =>
    typedJson(
      webhookSubscriptionWithSecret,
      200,
      await rotateWebhookSecret(services.caps, caller, params.envId, params.subscriptionId),
      { "cache-control": "no-store" },
    ),
);
