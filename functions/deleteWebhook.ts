import { defineHttp, noContent } from "../shared/adapters/http/define.js";
import { webhookParams } from "../shared/model/webhooks.js";
import { deleteWebhookSubscription } from "../shared/usecases/webhooks.js";

export const handler = defineHttp(
  {
    name: "deleteWebhook",
    route: "environments/{envId}/webhooks/{subscriptionId}",
    method: "DELETE",
    summary: "Deletes a webhook subscription: no event is sent to it from then on (environment admins, Sharing.Admin).",
    params: webhookParams,
    responses: { 204: { description: "deleted" } },
  },
  async ({ services, caller, params }) => {
    await deleteWebhookSubscription(services.caps, caller, params.envId, params.subscriptionId);
    return noContent();
  },
);
