import { defineHttp } from "../shared/adapters/http/define.js";
import { resourceBody, resourceParams } from "../shared/model/api.js";
import { putResource } from "../shared/usecases/resources.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { resourceView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "putResource",
    route: "environments/{envId}/resources/{resourceId}",
    method: "PUT",
    summary: "Registers or updates a resource.",
    params: resourceParams,
    body: resourceBody,
    responses: {
      200: { description: "updated", schema: resourceView },
      201: { description: "registered", schema: resourceView },
    },
  },
  async ({ services, caller, params, body, request }) => {
    const r = await putResource(
      services.caps,
      caller,
      params.envId,
      params.resourceId,
      body,
      request.headers.get("if-match") ?? undefined,
    );
    const { etag, ...view } = r.view;
    return typedJson(resourceView, r.created ? 201 : 200, view, { etag });
  },
);
