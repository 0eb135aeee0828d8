import { defineHttp } from "../shared/adapters/http/define.js";
import { principalResourcesParams, principalResourcesQuery } from "../shared/model/api.js";
import { groupResources, principalResources } from "../shared/usecases/resources.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { principalResourcesPage } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "principalResources",
    route: "environments/{envId}/principals/{principalId}/resources",
    method: "GET",
    summary: "The resources a principal can act on.",
    params: principalResourcesParams,
    query: principalResourcesQuery,
    responses: { 200: { description: "a page of resources", schema: principalResourcesPage } },
  },
  async ({ services, caller, params, query }) =>
    typedJson(
      principalResourcesPage,
      200,
      query.principalType && query.principalType !== "user"
        ? await groupResources(
            services.caps,
            caller,
            params.envId,
            {
              type: query.principalType,
              id: params.principalId,
            },
            query.kind,
            query.continuationToken,
          )
        : await principalResources(
            services.caps,
            caller,
            params.envId,
            params.principalId,
            query.kind,
            query.continuationToken,
          ),
    ),
);
