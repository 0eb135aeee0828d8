import { defineHttp } from "../shared/adapters/http/define.js";
import { scimBase, scimRoute } from "../shared/adapters/http/scim.js";
import { scimEnvParams } from "../shared/model/scim.js";
import { listResourceTypes } from "../shared/usecases/scim/discovery.js";
import { typedScimJson } from "../shared/adapters/http/typed.js";
import { scimResourceTypeList } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimResourceTypes",
    route: "environments/{envId}/scim/v2/ResourceTypes",
    method: "GET",
    summary: "SCIM: the resource types, User and Group (Sharing.Provisioning apps).",
    params: scimEnvParams,
    responses: {
      200: {
        description: "a ListResponse of ResourceType",
        contentType: "application/scim+json",
        schema: scimResourceTypeList,
      },
    },
  },
  async ({ services, caller, params, request }) =>
    typedScimJson(
      scimResourceTypeList,
      200,
      await listResourceTypes(services.caps, caller, params.envId, scimBase(request, params.envId)),
    ),
);
