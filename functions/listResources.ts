import { defineHttp, json } from "../shared/adapters/http/define.js";
import { envParams, pageOf, resourcesQuery, resourceWithOwnersView } from "../shared/model/api.js";
import { listResources } from "../shared/usecases/reads.js";

export const handler = defineHttp(
  {
    name: "listResources",
    route: "environments/{envId}/resources",
    method: "GET",
    summary: "The environment's resources with their owners, paged; filtered by kind and owner.",
    params: envParams,
    query: resourcesQuery,
    responses: { 200: { description: "a page of resources", schema: pageOf(resourceWithOwnersView) } },
  },
  async ({ services, caller, params, query }) =>
    json(200, await listResources(services.caps, caller, params.envId, query)),
);
