import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { reviewDefinitionView, reviewParams } from "../shared/model/reviewsApi.js";
import { getReviewDefinition } from "../shared/usecases/reviews/definitions.js";

export const handler = defineHttp(
  {
    name: "getReview",
    route: "environments/{envId}/reviews/{reviewId}",
    method: "GET",
    summary:
      "An access review definition and the id of its newest instance (environment admins, Sharing.Admin, Sharing.Audit).",
    params: reviewParams,
    responses: { 200: { description: "the definition", schema: reviewDefinitionView } },
  },
  async ({ services, caller, params }) =>
    typedJson(
      reviewDefinitionView,
      200,
      await getReviewDefinition(services.caps, caller, params.envId, params.reviewId),
    ),
);
