import { defineHttp } from "../shared/adapters/http/define.js";
import { directoryQuery, envParams } from "../shared/model/api.js";
import { searchDirectory } from "../shared/usecases/directory.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { directoryMatches } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "searchDirectory",
    route: "environments/{envId}/directory",
    method: "GET",
    summary: "Users and groups whose name or email starts with the search text.",
    params: envParams,
    query: directoryQuery,
    responses: { 200: { description: "matches", schema: directoryMatches } },
  },
  async ({ services, caller, params, query }) =>
    typedJson(directoryMatches, 200, {
      items: await searchDirectory(services.caps, caller, params.envId, query.search),
    }),
);
