import { defineHttp } from "../shared/adapters/http/define.js";
import { copyParams } from "../shared/model/api.js";
import { getCopy } from "../shared/usecases/copies.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { copyView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "getCopy",
    route: "copies/{copyId}",
    method: "GET",
    summary: "A copy of a cloud flow, for its recipient.",
    params: copyParams,
    responses: { 200: { description: "the template", schema: copyView } },
  },
  async ({ services, caller, params }) => typedJson(copyView, 200, await getCopy(services.caps, caller, params.copyId)),
);
