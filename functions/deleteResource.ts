import { defineHttp, noContent } from "../shared/adapters/http/define.js";
import { resourceParams } from "../shared/model/api.js";
import { deleteResource } from "../shared/usecases/resources.js";

export const handler = defineHttp(
  {
    name: "deleteResource",
    route: "environments/{envId}/resources/{resourceId}",
    method: "DELETE",
    summary: "Deletes a resource.",
    params: resourceParams,
    responses: { 204: { description: "deleted" } },
  },
  async ({ services, caller, params }) => {
    await deleteResource(services.caps, caller, params.envId, params.resourceId);
    return noContent();
  },
);
