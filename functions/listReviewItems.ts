import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { reviewInstanceParams, reviewItemsPage, reviewItemsQuery } from "../shared/model/reviewsApi.js";
import { listReviewItems } from "../shared/usecases/reviews/instances.js";

export const handler = defineHttp(
  {
    name: "listReviewItems",
    route: "environments/{envId}/reviews/{reviewId}/instances/{instanceId}/items",
    method: "GET",
    summary:
      "The instance's items, paged: every item for environment admins and Sharing.Admin/Audit apps, or one reviewer's (reviewerId: u.{userId}, fallback or admins; undecided first); a reviewer sees the items they review.",
    params: reviewInstanceParams,
    query: reviewItemsQuery,
    responses: { 200: { description: "a page of items", schema: reviewItemsPage } },
  },
  async ({ services, caller, params, query }) =>
    typedJson(
      reviewItemsPage,
      200,
      await listReviewItems(services.caps, caller, params.envId, params.reviewId, params.instanceId, query),
    ),
);
