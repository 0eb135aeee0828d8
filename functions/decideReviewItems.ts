import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { reviewDecisionsAnswer, reviewDecisionsBody, reviewInstanceParams } from "../shared/model/reviewsApi.js";
import { postReviewDecisions } from "../shared/usecases/reviews/instances.js";

export const handler = defineHttp(
  {
    name: "decideReviewItems",
    route: "environments/{envId}/reviews/{reviewId}/instances/{instanceId}/decisions",
    method: "POST",
    summary:
      "Decides items of an open review instance (approve, deny, don't know; a justification where the review requires one), as one of their reviewers. A decision may be changed until the instance ends.",
    params: reviewInstanceParams,
    body: reviewDecisionsBody,
    responses: { 200: { description: "the items as decided", schema: reviewDecisionsAnswer } },
  },
  async ({ services, caller, params, body }) =>
    typedJson(
      reviewDecisionsAnswer,
      200,
      await postReviewDecisions(
        services.caps,
        caller,
        params.envId,
        params.reviewId,
        params.instanceId,
        body.decisions,
      ),
    ),
);
