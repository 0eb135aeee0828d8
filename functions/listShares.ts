import { defineHttp, json } from "../shared/adapters/http/define.js";
import { resourceParams } from "../shared/model/api.js";
import { sharedWith } from "../shared/usecases/sharing.js";

export const handler = defineHttp(
  {
    name: "listShares",
    route: "environments/{envId}/resources/{resourceId}/shares",
    method: "GET",
    summary: "Every grant, the creator, and the invitations.",
    params: resourceParams,
    responses: { 200: { description: "shared with" } },
  },
  async ({ services, caller, params }) =>
    json(200, await sharedWith(services.caps, caller, params.envId, params.resourceId)),
);
