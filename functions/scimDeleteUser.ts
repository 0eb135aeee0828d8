import { defineHttp, noContent } from "../shared/adapters/http/define.js";
import { scimRoute } from "../shared/adapters/http/scim.js";
import { scimResourceParams } from "../shared/model/scim.js";
import { deleteUser } from "../shared/usecases/scim/users.js";

export const handler = defineHttp(
  {
    ...scimRoute,
    name: "scimDeleteUser",
    route: "environments/{envId}/scim/v2/Users/{id}",
    method: "DELETE",
    summary: "SCIM: removes the user's membership of the environment (the tenant user stays).",
    params: scimResourceParams,
    responses: { 204: { description: "removed" } },
  },
  async ({ services, caller, params }) => {
    await deleteUser(services.caps, caller, params.envId, params.id);
    return noContent();
  },
);
