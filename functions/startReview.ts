import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { reviewParams, reviewStarted } from "../shared/model/reviewsApi.js";
import { startReviewInstance } from "../shared/usecases/reviews/instances.js";

/** What the request spends on the snapshot; a larger one is continued by the review runner timer. */
const budgetMs = 20_000;

export const handler = defineHttp(
  {
    name: "startReview",
    route: "environments/{envId}/reviews/{reviewId}/instances",
    method: "POST",
    idempotent: true,
    summary:
      "Starts an instance of the access review now: snapshots the grants in scope into items, then emails the reviewers (environment admins, Sharing.Admin).",
    params: reviewParams,
    responses: {
      202: { description: "the instance's id; read it with GET .../instances/{instanceId}", schema: reviewStarted },
    },
  },
  async ({ services, caller, params }) => {
    const r = await startReviewInstance(services.caps, caller, params.envId, params.reviewId, { budgetMs });
    return typedJson(reviewStarted, 202, r, {
      location: `/api/environments/${params.envId}/reviews/${params.reviewId}/instances/${r.instanceId}`,
    });
  },
);
