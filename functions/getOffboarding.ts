import { defineHttp } from "../shared/adapters/http/define.js";
import { offboardingParams, pageQuery } from "../shared/model/api.js";
import { getOffboarding } from "../shared/usecases/offboarding.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { offboardingView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "getOffboarding",
    route: "environments/{envId}/offboardings/{offboardingId}",
    method: "GET",
    summary: "An offboarding's state and a page of what it did to each resource, in resource order.",
    params: offboardingParams,
    query: pageQuery,
    responses: { 200: { description: "the offboarding and a page of its items", schema: offboardingView } },
  },
  async ({ services, caller, params, query }) =>
    typedJson(
      offboardingView,
      200,
      await getOffboarding(services.caps, caller, params.envId, params.offboardingId, query),
    ),
);
