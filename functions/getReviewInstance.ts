import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { reviewInstanceParams, reviewInstanceView } from "../shared/model/reviewsApi.js";
import { getReviewInstance } from "../shared/usecases/reviews/instances.js";

export const handler = defineHttp(
  {
    name: "getReviewInstance",
    route: "environments/{envId}/reviews/{reviewId}/instances/{instanceId}",
    method: "GET",
    summary:
      "An access review instance: its status, phase, when it ends, and its counts per decision and, once applied, per outcome (environment admins, Sharing.Admin, Sharing.Audit).",
    params: reviewInstanceParams,
    responses: { 200: { description: "the instance", schema: reviewInstanceView } },
  },
  async ({ services, caller, params }) => {
    const run = await getReviewInstance(services.caps, caller, params.envId, params.reviewId, params.instanceId);
    return typedJson(reviewInstanceView, 200, reviewInstanceView.parse(run));
  },
);
