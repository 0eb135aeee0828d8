import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { envParams, pageOf, resourcesQuery, resourceWithOwnersView } from "../shared/model/api.js";
import { listResources } from "../shared/usecases/reads.js";

const answer = pageOf(resourceWithOwnersView);

export const handler = defineHttp(
  {
    name: "listResources",
    route: "environments/{envId}/resources",
    method: "GET",
    summary: "The environment's resources with their owners, paged; filtered by kind and owner.",
    params: envParams,
    query: resourcesQuery,
    responses: { 200: { description: "a page of resources", schema: answer } },
  },
  async ({ services, caller, params, query }) =>
    typedJson(answer, 200, await listResources(services.caps, caller, params.envId, query)),
);
