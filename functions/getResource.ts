import { defineHttp } from "../shared/adapters/http/define.js";
import { resourceParams } from "../shared/model/api.js";
import { readResource } from "../shared/usecases/resources.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { resourceReadView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "getResource",
    route: "environments/{envId}/resources/{resourceId}",
    method: "GET",
    summary:
      "The resource and the caller's allowed actions; a flow's run-only users get the run-only view (view: runOnly).",
    params: resourceParams,
    responses: { 200: { description: "the resource", schema: resourceReadView } },
  },
  async ({ services, caller, params }) => {
    const { etag, ...view } = await readResource(services.caps, caller, params.envId, params.resourceId);
    return typedJson(resourceReadView, 200, view, { etag });
  },
);
