import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { envParams } from "../shared/model/api.js";
import { scimTokenBody, scimTokenCreated } from "../shared/model/scim.js";
import { createScimToken } from "../shared/usecases/scim/tokens.js";

export const handler = defineHttp(
  {
    name: "scimCreateToken",
    route: "environments/{envId}/scim/tokens",
    method: "POST",
    summary:
      "Issues a provisioning secret for the environment's SCIM base (environment admins, Sharing.Admin): the Secret Token of Entra provisioning, shown this once; expiresInDays default 365, at most 730; at most 20 tokens an environment.",
    params: envParams,
    body: scimTokenBody,
    responses: { 201: { description: "the token, with its secret (shown only here)", schema: scimTokenCreated } },
  },
  async ({ services, caller, params, body }) =>
    typedJson(scimTokenCreated, 201, await createScimToken(services.caps, caller, params.envId, body), {
      "cache-control": "no-store",
    }),
);
