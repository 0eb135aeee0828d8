import { defineHttp } from "../shared/adapters/http/define.js";
import { scimBase, scimJson, scimRoute } from "../shared/adapters/http/scim.js";
import { scimResourceParams, scimUserBody } from "../shared/model/scim.js";
import { replaceUser } from "../shared/usecases/scim/users.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimReplaceUser",
    route: "environments/{envId}/scim/v2/Users/{id}",
    method: "PUT",
    summary: "SCIM: replaces a user's attributes (active is kept when not sent).",
    params: scimResourceParams,
    body: scimUserBody,
    responses: { 200: { description: "the User", contentType: "application/scim+json" } },
  },
  async ({ services, caller, params, body, request }) =>
    scimJson(
      200,
      await replaceUser(services.caps, caller, params.envId, params.id, body, scimBase(request, params.envId)),
    ),
);
