import { defineHttp } from "../shared/adapters/http/define.js";
import { revokeParams } from "../shared/model/api.js";
import { revoke } from "../shared/usecases/sharing.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { revokeResult } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "revoke",
    route: "environments/{envId}/resources/{resourceId}/shares/{principalType}/{principalId}/{role}",
    method: "DELETE",
    summary: "Revokes a role from a principal.",
    params: revokeParams,
    responses: { 200: { description: "revoked", schema: revokeResult } },
  },
  async ({ services, caller, params }) =>
    typedJson(
      revokeResult,
      200,
      await revoke(
        services.caps,
        caller,
        params.envId,
        params.resourceId,
        { type: params.principalType, id: params.principalId },
        params.role,
      ),
    ),
);
