import { defineHttp } from "../shared/adapters/http/define.js";
import { scimBase, scimRoute } from "../shared/adapters/http/scim.js";
import { scimEnvParams, scimListQuery } from "../shared/model/scim.js";
import { listGroups } from "../shared/usecases/scim/groups.js";
import { typedScimJson } from "../shared/adapters/http/typed.js";
import { scimGroupList } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimListGroups",
    route: "environments/{envId}/scim/v2/Groups",
    method: "GET",
    summary:
      "SCIM: the environment's security groups, filtered by eq and and on displayName, externalId or id; excludedAttributes=members leaves members out.",
    params: scimEnvParams,
    query: scimListQuery,
    responses: {
      200: { description: "a ListResponse of Group", contentType: "application/scim+json", schema: scimGroupList },
    },
  },
  async ({ services, caller, params, query, request }) =>
    typedScimJson(
      scimGroupList,
      200,
      await listGroups(services.caps, caller, params.envId, query, scimBase(request, params.envId)),
    ),
);
