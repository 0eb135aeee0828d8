import { defineHttp } from "../shared/adapters/http/define.js";
import { resourceParams } from "../shared/model/api.js";
import { getResource } from "../shared/usecases/resources.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { resourceView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "getResource",
    route: "environments/{envId}/resources/{resourceId}",
    method: "GET",
    summary: "The resource and the caller's allowed actions.",
    params: resourceParams,
    responses: { 200: { description: "the resource", schema: resourceView } },
  },
  async ({ services, caller, params }) => {
    const { etag, ...view } = await getResource(services.caps, caller, params.envId, params.resourceId);
    return typedJson(resourceView, 200, view, { etag });
  },
);
