import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { environmentView, envParams } from "../shared/model/api.js";
import { getEnvironment } from "../shared/usecases/reads.js";

export const handler = defineHttp(
  {
    name: "getEnvironment",
    route: "environments/{envId}",
    method: "GET",
    summary: "An environment (Sharing.Admin, or a member).",
    params: envParams,
    responses: { 200: { description: "the environment", schema: environmentView } },
  },
  async ({ services, caller, params }) =>
    typedJson(environmentView, 200, await getEnvironment(services.caps, caller, params.envId)),
);
