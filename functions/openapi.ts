import { defineHttp, json } from "../shared/adapters/http/define.js";
import { openApiDocument } from "../shared/adapters/http/openapi.js";
import { openApiView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "openapi",
    route: "openapi.json",
    method: "GET",
    auth: false,
    summary: "This API's OpenAPI 3.1 document, generated from its zod schemas.",
    responses: { 200: { description: "the document", schema: openApiView } },
  },
  async () => json(200, openApiDocument()),
);
