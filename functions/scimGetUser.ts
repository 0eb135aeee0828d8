import { defineHttp } from "../shared/adapters/http/define.js";
import { scimBase, scimRoute } from "../shared/adapters/http/scim.js";
import { scimGetQuery, scimResourceParams } from "../shared/model/scim.js";
import { getUser } from "../shared/usecases/scim/users.js";
import { typedScimJson } from "../shared/adapters/http/typed.js";
import { scimUserView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimGetUser",
    route: "environments/{envId}/scim/v2/Users/{id}",
    method: "GET",
    summary: "SCIM: one user of the environment, active or not.",
    params: scimResourceParams,
    query: scimGetQuery,
    responses: { 200: { description: "the User", contentType: "application/scim+json", schema: scimUserView } },
  },
  async ({ services, caller, params, request }) =>
    typedScimJson(
      scimUserView,
      200,
      await getUser(services.caps, caller, params.envId, params.id, scimBase(request, params.envId)),
    ),
);
