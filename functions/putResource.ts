import { defineHttp, json } from "../shared/adapters/http/define.js";
import { resourceBody, resourceParams } from "../shared/model/api.js";
import { putResource } from "../shared/usecases/resources.js";

export const handler = defineHttp(
  {
    name: "putResource",
    route: "environments/{envId}/resources/{resourceId}",
    method: "PUT",
    summary: "Registers or updates a resource.",
    params: resourceParams,
    body: resourceBody,
    responses: { 200: { description: "updated" }, 201: { description: "registered" } },
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
    return json(r.created ? 201 : 200, view, { etag });
  },
);
