import { defineHttp } from "../shared/adapters/http/define.js";
import { scimBase, scimRoute } from "../shared/adapters/http/scim.js";
import { scimEnvParams } from "../shared/model/scim.js";
import { listSchemas } from "../shared/usecases/scim/discovery.js";
import { typedScimJson } from "../shared/adapters/http/typed.js";
import { scimSchemaList } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimSchemas",
    route: "environments/{envId}/scim/v2/Schemas",
    method: "GET",
    summary: "SCIM: the User and Group schemas as supported here (Sharing.Provisioning apps).",
    params: scimEnvParams,
    responses: {
      200: { description: "a ListResponse of Schema", contentType: "application/scim+json", schema: scimSchemaList },
    },
  },
  async ({ services, caller, params, request }) =>
    typedScimJson(
      scimSchemaList,
      200,
      await listSchemas(services.caps, caller, params.envId, scimBase(request, params.envId)),
    ),
);
