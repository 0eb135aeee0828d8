import { defineHttp } from "../shared/adapters/http/define.js";
import { resourceParams, sendCopyBody } from "../shared/model/api.js";
import { sendCopy } from "../shared/usecases/copies.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { copiesSent } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "sendCopy",
    route: "environments/{envId}/resources/{resourceId}/copies",
    method: "POST",
    idempotent: true,
    summary: "Sends each recipient an independent copy (template) of a cloud flow, and emails them.",
    params: resourceParams,
    body: sendCopyBody,
    responses: { 201: { description: "the copies, one per recipient", schema: copiesSent } },
  },
  async ({ services, caller, params, body }) =>
    typedJson(copiesSent, 201, await sendCopy(services.caps, caller, params.envId, params.resourceId, body)),
);
