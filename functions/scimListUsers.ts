import { defineHttp } from "../shared/adapters/http/define.js";
import { scimBase, scimRoute } from "../shared/adapters/http/scim.js";
import { scimEnvParams, scimListQuery } from "../shared/model/scim.js";
import { listUsers } from "../shared/usecases/scim/users.js";
import { typedScimJson } from "../shared/adapters/http/typed.js";
import { scimUserList } from "../shared/model/responses.js";

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
    responses: {
      200: { description: "a ListResponse of User", contentType: "application/scim+json", schema: scimUserList },
    },
  },
  async ({ services, caller, params, query, request }) =>
    typedScimJson(
      scimUserList,
      200,
      await listUsers(services.caps, caller, params.envId, query, scimBase(request, params.envId)),
    ),
);
