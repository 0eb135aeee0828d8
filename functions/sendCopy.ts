import { defineHttp, json } from "../shared/adapters/http/define.js";
import { resourceParams, sendCopyBody } from "../shared/model/api.js";
import { sendCopy } from "../shared/usecases/copies.js";

export const handler = defineHttp(
  {
    name: "sendCopy",
    route: "environments/{envId}/resources/{resourceId}/copies",
    method: "POST",
    idempotent: true,
    summary: "Sends each recipient an independent copy (template) of a cloud flow, and emails them.",
    params: resourceParams,
    body: sendCopyBody,
    responses: { 201: { description: "the copies, one per recipient" } },
  },
  async ({ services, caller, params, body }) =>
    json(201, await sendCopy(services.caps, caller, params.envId, params.resourceId, body)),
);
