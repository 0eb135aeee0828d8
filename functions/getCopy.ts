import { defineHttp, json } from "../shared/adapters/http/define.js";
import { copyParams } from "../shared/model/api.js";
import { getCopy } from "../shared/usecases/copies.js";

export const handler = defineHttp(
  {
    name: "getCopy",
    route: "copies/{copyId}",
    method: "GET",
    summary: "A copy of a cloud flow, for its recipient.",
    params: copyParams,
    responses: { 200: { description: "the template" } },
  },
  async ({ services, caller, params }) => json(200, await getCopy(services.caps, caller, params.copyId)),
);
