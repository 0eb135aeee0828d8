import { defineHttp } from "../shared/adapters/http/define.js";
import { copyParams } from "../shared/model/api.js";
import { instantiateCopy } from "../shared/usecases/copies.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { resourceView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "instantiateCopy",
    route: "copies/{copyId}/instantiate",
    method: "POST",
    idempotent: true,
    summary: "Creates the recipient's own cloud flow from a copy, with no connections.",
    params: copyParams,
    responses: {
      201: { description: "the new flow", schema: resourceView },
      200: { description: "the flow was already created from this copy", schema: resourceView },
    },
  },
  async ({ services, caller, params }) => {
    const r = await instantiateCopy(services.caps, caller, params.copyId);
    const { etag, ...view } = r.view;
    return typedJson(resourceView, r.created ? 201 : 200, view, {
      etag,
      location: `/api/environments/${view.resource.envId}/resources/${view.resource.resourceId}`,
    });
  },
);
