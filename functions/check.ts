import { defineHttp, json } from "../shared/adapters/http/define.js";
import { checkBody, envParams } from "../shared/model/api.js";
import { check } from "../shared/usecases/access.js";

export const handler = defineHttp(
  {
    name: "check",
    route: "environments/{envId}/check",
    method: "POST",
    narrowApps: ["Sharing.Check"],
    summary: "Up to 100 access questions, answered in order.",
    params: envParams,
    body: checkBody,
    responses: { 200: { description: "results in the order asked" } },
  },
  async ({ services, caller, params, body }) =>
    json(200, { results: await check(services.caps, caller, params.envId, body.checks) }),
);
