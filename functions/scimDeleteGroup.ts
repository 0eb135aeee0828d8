import { defineHttp, noContent } from "../shared/adapters/http/define.js";
import { scimRoute } from "../shared/adapters/http/scim.js";
import { scimResourceParams } from "../shared/model/scim.js";
import { deleteGroup } from "../shared/usecases/scim/groups.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimDeleteGroup",
    route: "environments/{envId}/scim/v2/Groups/{id}",
    method: "DELETE",
    summary: "SCIM: deletes a security group, its members first (a repeated DELETE finishes an interrupted one).",
    params: scimResourceParams,
    responses: { 204: { description: "deleted" } },
  },
  async ({ services, caller, params }) => {
    await deleteGroup(services.caps, caller, params.envId, params.id);
    return noContent();
  },
);
