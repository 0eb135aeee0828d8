import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { envParams, pageQuery } from "../shared/model/api.js";
import { reviewDefinitionsPage } from "../shared/model/reviewsApi.js";
import { listReviewDefinitions } from "../shared/usecases/reviews/definitions.js";

export const handler = defineHttp(
  {
    name: "listReviews",
    route: "environments/{envId}/reviews",
    method: "GET",
    summary: "The environment's access review definitions, paged (environment admins, Sharing.Admin, Sharing.Audit).",
    params: envParams,
    query: pageQuery,
    responses: { 200: { description: "a page of definitions", schema: reviewDefinitionsPage } },
  },
  async ({ services, caller, params, query }) =>
    typedJson(reviewDefinitionsPage, 200, await listReviewDefinitions(services.caps, caller, params.envId, query)),
);
