import { defineHttp } from "../shared/adapters/http/define.js";
import { resourceParams } from "../shared/model/api.js";
import { sharedWith } from "../shared/usecases/sharing.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { sharedWithView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "listShares",
    route: "environments/{envId}/resources/{resourceId}/shares",
    method: "GET",
    summary: "Every grant, the creator, and the invitations.",
    params: resourceParams,
    responses: { 200: { description: "shared with", schema: sharedWithView } },
  },
  async ({ services, caller, params }) =>
    typedJson(sharedWithView, 200, await sharedWith(services.caps, caller, params.envId, params.resourceId)),
);
