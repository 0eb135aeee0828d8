import { defineHttp } from "../shared/adapters/http/define.js";
import { scimBase, scimRoute } from "../shared/adapters/http/scim.js";
import { scimEnvParams, scimUserBody } from "../shared/model/scim.js";
import { createUser } from "../shared/usecases/scim/users.js";
import { typedScimJson } from "../shared/adapters/http/typed.js";
import { scimUserView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimCreateUser",
    route: "environments/{envId}/scim/v2/Users",
    method: "POST",
    summary:
      "SCIM: provisions a user into the environment (the tenant user where absent, and a BasicUser membership); 409 for a userName already there.",
    params: scimEnvParams,
    body: scimUserBody,
    responses: { 201: { description: "the User", contentType: "application/scim+json", schema: scimUserView } },
  },
  async ({ services, caller, params, body, request }) => {
    const user = await createUser(services.caps, caller, params.envId, body, scimBase(request, params.envId));
    return typedScimJson(scimUserView, 201, user, { location: user.meta.location });
  },
);
