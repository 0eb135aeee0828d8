import { defineHttp } from "../shared/adapters/http/define.js";
import { expiryBody, revokeParams } from "../shared/model/api.js";
import { setExpiry } from "../shared/usecases/sharing.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { expiryResult } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "patchShare",
    route: "environments/{envId}/resources/{resourceId}/shares/{principalType}/{principalId}/{role}",
    method: "PATCH",
    summary:
      "Sets when a grant expires (extends or shortens it), or removes its expiry with null where no cap applies.",
    params: revokeParams,
    body: expiryBody,
    responses: { 200: { description: "the grant as it now stands", schema: expiryResult } },
  },
  async ({ services, caller, params, body }) =>
    typedJson(expiryResult, 200, {
      grant: await setExpiry(
        services.caps,
        caller,
        params.envId,
        params.resourceId,
        { type: params.principalType, id: params.principalId },
        params.role,
        body.expiresAt,
      ),
    }),
);
