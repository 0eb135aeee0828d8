import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { reviewDefinitionInputSchema, reviewDefinitionSchema } from "../shared/model/reviews.js";
import { reviewParams } from "../shared/model/reviewsApi.js";
import { putReviewDefinition } from "../shared/usecases/reviews/definitions.js";

export const handler = defineHttp(
  {
    name: "putReview",
    route: "environments/{envId}/reviews/{reviewId}",
    method: "PUT",
    summary:
      "Creates or replaces an access review definition: which grants it covers, who reviews them, how long an instance stays open, its recurrence and default decision (environment admins, Sharing.Admin).",
    params: reviewParams,
    body: reviewDefinitionInputSchema,
    responses: {
      200: { description: "replaced", schema: reviewDefinitionSchema },
      201: { description: "created", schema: reviewDefinitionSchema },
    },
  },
  async ({ services, caller, params, body }) => {
    const r = await putReviewDefinition(services.caps, caller, params.envId, params.reviewId, body);
    return typedJson(reviewDefinitionSchema, r.created ? 201 : 200, r.definition);
  },
);
