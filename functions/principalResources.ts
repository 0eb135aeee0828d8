import { defineHttp, json } from "../shared/adapters/http/define.js";
import { kindQuery, principalResourcesParams } from "../shared/model/api.js";
import { principalResources } from "../shared/usecases/resources.js";

export const handler = defineHttp(
  {
    name: "principalResources",
    route: "environments/{envId}/principals/{principalId}/resources",
    method: "GET",
    summary: "The resources a principal can act on.",
    params: principalResourcesParams,
    query: kindQuery,
    responses: { 200: { description: "a page of resources" } },
  },
  async ({ services, caller, params, query }) =>
    json(
      200,
      await principalResources(
        services.caps,
        caller,
        params.envId,
        params.principalId,
        query.kind,
        query.continuationToken,
      ),
    ),
);
