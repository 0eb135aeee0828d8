import { defineHttp } from "../shared/adapters/http/define.js";
import { scimBase, scimRoute } from "../shared/adapters/http/scim.js";
import { scimPatchBody, scimResourceParams } from "../shared/model/scim.js";
import { patchUser } from "../shared/usecases/scim/users.js";
import { typedScimJson } from "../shared/adapters/http/typed.js";
import { scimUserView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimPatchUser",
    route: "environments/{envId}/scim/v2/Users/{id}",
    method: "PATCH",
    summary:
      "SCIM: add, replace and remove a user's attributes (any letter case); replace active false suspends the member, true restores.",
    params: scimResourceParams,
    body: scimPatchBody,
    responses: { 200: { description: "the User", contentType: "application/scim+json", schema: scimUserView } },
  },
  async ({ services, caller, params, body, request }) =>
    typedScimJson(
      scimUserView,
      200,
      await patchUser(services.caps, caller, params.envId, params.id, body.Operations, scimBase(request, params.envId)),
    ),
);
