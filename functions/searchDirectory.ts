import { defineHttp, json } from "../shared/adapters/http/define.js";
import { directoryQuery, envParams } from "../shared/model/api.js";
import { searchDirectory } from "../shared/usecases/directory.js";

export const handler = defineHttp(
  {
    name: "searchDirectory",
    route: "environments/{envId}/directory",
    method: "GET",
    summary: "Users and groups whose name or email starts with the search text.",
    params: envParams,
    query: directoryQuery,
    responses: { 200: { description: "matches" } },
  },
  async ({ services, caller, params, query }) =>
    json(200, { items: await searchDirectory(services.caps, caller, params.envId, query.search) }),
);
