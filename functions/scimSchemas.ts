import { defineHttp } from "../shared/adapters/http/define.js";
import { scimBase, scimJson, scimRoute } from "../shared/adapters/http/scim.js";
import { scimEnvParams } from "../shared/model/scim.js";
import { listSchemas } from "../shared/usecases/scim/discovery.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimSchemas",
    route: "environments/{envId}/scim/v2/Schemas",
    method: "GET",
    summary: "SCIM: the User and Group schemas as supported here (Sharing.Provisioning apps).",
    params: scimEnvParams,
    responses: { 200: { description: "a ListResponse of Schema", contentType: "application/scim+json" } },
  },
  async ({ services, caller, params, request }) =>
    scimJson(200, await listSchemas(services.caps, caller, params.envId, scimBase(request, params.envId))),
);
