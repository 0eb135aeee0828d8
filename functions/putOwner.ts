import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { ownerBody, ownerChangeView, resourceParams } from "../shared/model/api.js";
import { changeOwner } from "../shared/usecases/ownerChange.js";

export const handler = defineHttp(
  {
    name: "putOwner",
    route: "environments/{envId}/resources/{resourceId}/owner",
    method: "PUT",
    summary:
      "Makes another enabled member with a maker role the primary owner in place (solution-aware flows, processes); the previous owner stays an owner unless keepPreviousOwner is false.",
    params: resourceParams,
    body: ownerBody,
    responses: { 200: { description: "the resource with its new primary owner", schema: ownerChangeView } },
  },
  async ({ services, caller, params, body, request }) =>
    typedJson(
      ownerChangeView,
      200,
      await changeOwner(
        services.caps,
        caller,
        params.envId,
        params.resourceId,
        body,
        request.headers.get("if-match") ?? undefined,
      ),
    ),
);
