import { defineHttp } from "../shared/adapters/http/define.js";
import { scimBase, scimRoute } from "../shared/adapters/http/scim.js";
import { scimResourceParams, scimUserBody } from "../shared/model/scim.js";
import { replaceUser } from "../shared/usecases/scim/users.js";
import { typedScimJson } from "../shared/adapters/http/typed.js";
import { scimUserView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimReplaceUser",
    route: "environments/{envId}/scim/v2/Users/{id}",
    method: "PUT",
    summary: "SCIM: replaces a user's attributes (active is kept when not sent).",
    params: scimResourceParams,
    body: scimUserBody,
    responses: { 200: { description: "the User", contentType: "application/scim+json", schema: scimUserView } },
  },
  async ({ services, caller, params, body, request }) =>
    typedScimJson(
      scimUserView,
      200,
      await replaceUser(services.caps, caller, params.envId, params.id, body, scimBase(request, params.envId)),
    ),
);
