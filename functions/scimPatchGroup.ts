import { defineHttp, noContent } from "../shared/adapters/http/define.js";
import { scimRoute } from "../shared/adapters/http/scim.js";
import { groupBodyMaxBytes } from "../shared/model/api.js";
import { scimPatchBody, scimResourceParams } from "../shared/model/scim.js";
import { patchGroup } from "../shared/usecases/scim/groups.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimPatchGroup",
    route: "environments/{envId}/scim/v2/Groups/{id}",
    method: "PATCH",
    summary:
      'SCIM: replaces displayName or externalId, adds and removes members by value (also remove members[value eq "id"]); any letter case.',
    maxBodyBytes: groupBodyMaxBytes,
    params: scimResourceParams,
    body: scimPatchBody,
    responses: { 204: { description: "applied" } },
  },
  async ({ services, caller, params, body }) => {
    await patchGroup(services.caps, caller, params.envId, params.id, body.Operations);
    return noContent();
  },
);
