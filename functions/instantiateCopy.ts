import { defineHttp, json } from "../shared/adapters/http/define.js";
import { copyParams } from "../shared/model/api.js";
import { instantiateCopy } from "../shared/usecases/copies.js";

export const handler = defineHttp(
  {
    name: "instantiateCopy",
    route: "copies/{copyId}/instantiate",
    method: "POST",
    idempotent: true,
    summary: "Creates the recipient's own cloud flow from a copy, with no connections.",
    params: copyParams,
    responses: {
      201: { description: "the new flow" },
      200: { description: "the flow was already created from this copy" },
    },
  },
  async ({ services, caller, params }) => {
    const r = await instantiateCopy(services.caps, caller, params.copyId);
    const { etag, ...view } = r.view;
    return json(r.created ? 201 : 200, view, {
      etag,
      location: `/api/environments/${view.resource.envId}/resources/${view.resource.resourceId}`,
    });
  },
);
