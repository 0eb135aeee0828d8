import { defineHttp } from "../shared/adapters/http/define.js";
import { environmentBody, envParams } from "../shared/model/api.js";
import { putEnvironment } from "../shared/usecases/directory.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { environmentResult } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "putEnvironment",
    route: "environments/{envId}",
    method: "PUT",
    summary: "Creates or updates an environment (Sharing.Admin).",
    params: envParams,
    body: environmentBody,
    responses: {
      200: { description: "updated", schema: environmentResult },
      201: { description: "created", schema: environmentResult },
    },
  },
  async ({ services, caller, params, body }) => {
    const r = await putEnvironment(services.caps, caller, { ...body, envId: params.envId });
    return typedJson(environmentResult, r.created ? 201 : 200, r.environment);
  },
);
