import { defineHttp } from "../shared/adapters/http/define.js";
import { scimBase, scimRoute } from "../shared/adapters/http/scim.js";
import { scimGetQuery, scimResourceParams } from "../shared/model/scim.js";
import { getGroup } from "../shared/usecases/scim/groups.js";
import { typedScimJson } from "../shared/adapters/http/typed.js";
import { scimGroupView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimGetGroup",
    route: "environments/{envId}/scim/v2/Groups/{id}",
    method: "GET",
    summary:
      "SCIM: one security group; its members unless excludedAttributes=members (up to 10,000; past that only with members excluded).",
    params: scimResourceParams,
    query: scimGetQuery,
    responses: { 200: { description: "the Group", contentType: "application/scim+json", schema: scimGroupView } },
  },
  async ({ services, caller, params, query, request }) =>
    typedScimJson(
      scimGroupView,
      200,
      await getGroup(services.caps, caller, params.envId, params.id, query, scimBase(request, params.envId)),
    ),
);
