import { defineHttp } from "../shared/adapters/http/define.js";
import { accessParams } from "../shared/model/api.js";
import { effectiveAccess } from "../shared/usecases/access.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { effectiveAccessView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "effectiveAccess",
    route: "environments/{envId}/resources/{resourceId}/access/{principalId}",
    method: "GET",
    narrowApps: ["Sharing.Check"],
    summary: "A principal's roles, actions and where each role comes from.",
    params: accessParams,
    responses: { 200: { description: "effective access", schema: effectiveAccessView } },
  },
  async ({ services, caller, params }) =>
    typedJson(
      effectiveAccessView,
      200,
      await effectiveAccess(services.caps, caller, params.envId, params.resourceId, params.principalId),
    ),
);
