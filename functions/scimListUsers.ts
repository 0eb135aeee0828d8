import { defineHttp } from "../shared/adapters/http/define.js";
import { scimBase, scimJson, scimRoute } from "../shared/adapters/http/scim.js";
import { scimEnvParams, scimListQuery } from "../shared/model/scim.js";
import { listUsers } from "../shared/usecases/scim/users.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimListUsers",
    route: "environments/{envId}/scim/v2/Users",
    method: "GET",
    summary:
      "SCIM: the environment's users, filtered by eq and and on userName, externalId or id, paged by startIndex and count.",
    params: scimEnvParams,
    query: scimListQuery,
    responses: { 200: { description: "a ListResponse of User", contentType: "application/scim+json" } },
  },
  async ({ services, caller, params, query, request }) =>
    scimJson(200, await listUsers(services.caps, caller, params.envId, query, scimBase(request, params.envId))),
);
