import { defineHttp } from "../shared/adapters/http/define.js";
import { scimBase, scimRoute } from "../shared/adapters/http/scim.js";
import { groupBodyMaxBytes } from "../shared/model/api.js";
import { scimEnvParams, scimGroupBody } from "../shared/model/scim.js";
import { createGroup } from "../shared/usecases/scim/groups.js";
import { typedScimJson } from "../shared/adapters/http/typed.js";
import { scimGroupView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimCreateGroup",
    route: "environments/{envId}/scim/v2/Groups",
    method: "POST",
    summary: "SCIM: provisions a security group (displayName unique in the environment; 409 otherwise).",
    maxBodyBytes: groupBodyMaxBytes,
    params: scimEnvParams,
    body: scimGroupBody,
    responses: { 201: { description: "the Group", contentType: "application/scim+json", schema: scimGroupView } },
  },
  async ({ services, caller, params, body, request }) => {
    const group = await createGroup(services.caps, caller, params.envId, body, scimBase(request, params.envId));
    return typedScimJson(scimGroupView, 201, group, { location: group.meta.location });
  },
);
