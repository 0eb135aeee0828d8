import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { envParams, pageOf, pageQuery } from "../shared/model/api.js";
import { scimTokenView } from "../shared/model/scim.js";
import { listScimTokens } from "../shared/usecases/scim/tokens.js";

const answer = pageOf(scimTokenView);

export const handler = defineHttp(
  {
    name: "scimListTokens",
    route: "environments/{envId}/scim/tokens",
    method: "GET",
    summary:
      "The environment's provisioning secrets, oldest first, without the secrets (environment admins, Sharing.Admin).",
    params: envParams,
    query: pageQuery,
    responses: { 200: { description: "a page of tokens", schema: answer } },
  },
  async ({ services, caller, params, query }) =>
    typedJson(answer, 200, await listScimTokens(services.caps, caller, params.envId, query)),
);
