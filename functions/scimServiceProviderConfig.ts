import { defineHttp } from "../shared/adapters/http/define.js";
import { scimBase, scimRoute } from "../shared/adapters/http/scim.js";
import { scimEnvParams } from "../shared/model/scim.js";
import { serviceProviderConfig } from "../shared/usecases/scim/discovery.js";
import { typedScimJson } from "../shared/adapters/http/typed.js";
import { scimServiceProviderConfigView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimServiceProviderConfig",
    route: "environments/{envId}/scim/v2/ServiceProviderConfig",
    method: "GET",
    summary: "SCIM: what this provisioning endpoint supports (Sharing.Provisioning apps).",
    params: scimEnvParams,
    responses: {
      200: {
        description: "the ServiceProviderConfig",
        contentType: "application/scim+json",
        schema: scimServiceProviderConfigView,
      },
    },
  },
  async ({ services, caller, params, request }) =>
    typedScimJson(
      scimServiceProviderConfigView,
      200,
      await serviceProviderConfig(services.caps, caller, params.envId, scimBase(request, params.envId)),
    ),
);
