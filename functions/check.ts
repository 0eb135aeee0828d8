import { defineHttp } from "../shared/adapters/http/define.js";
import { checkBody, envParams } from "../shared/model/api.js";
import { check } from "../shared/usecases/access.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { checkResults } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "check",
    route: "environments/{envId}/check",
    method: "POST",
    narrowApps: ["Sharing.Check"],
    summary: "Up to 100 access questions, answered in order.",
    params: envParams,
    body: checkBody,
    responses: { 200: { description: "results in the order asked", schema: checkResults } },
  },
  async ({ services, caller, params, body }) =>
    typedJson(checkResults, 200, { results: await check(services.caps, caller, params.envId, body.checks) }),
);
