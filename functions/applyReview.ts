import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { reviewInstanceSchema } from "../shared/model/reviews.js";
import { reviewInstanceParams } from "../shared/model/reviewsApi.js";
import { requestApply } from "../shared/usecases/reviews/runner.js";

/** The instance as the apply left it: the runner goes on with what one request's budget didn't finish. */
const applyAccepted = reviewInstanceSchema.pick({ instanceId: true, status: true, phase: true, applyCounts: true });

/** What the request spends revoking; the reviewRunner timer continues the rest. */
const budgetMs = 10_000;

export const handler = defineHttp(
  {
    name: "applyReview",
    route: "environments/{envId}/reviews/{reviewId}/instances/{instanceId}/apply",
    method: "POST",
    summary:
      "Applies a completed review instance's results: revokes the denied grants (change log review-deny), each item recording its outcome.",
    params: reviewInstanceParams,
    responses: {
      202: {
        description: "the apply started; GET the instance for its status and outcomes",
        schema: applyAccepted,
      },
    },
  },
  async ({ services, caller, params: p }) => {
    const run = await requestApply(services.caps, caller, p.envId, p.reviewId, p.instanceId, { budgetMs });
    return typedJson(
      applyAccepted,
      202,
      { instanceId: run.instanceId, status: run.status, phase: run.phase, applyCounts: run.applyCounts },
      { location: `/api/environments/${p.envId}/reviews/${p.reviewId}/instances/${p.instanceId}` },
    );
  },
);
