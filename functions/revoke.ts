import { defineHttp, json } from "../shared/adapters/http/define.js";
import { revokeParams } from "../shared/model/api.js";
import { revoke } from "../shared/usecases/sharing.js";

export const handler = defineHttp(
  {
    name: "revoke",
    route: "environments/{envId}/resources/{resourceId}/shares/{principalType}/{principalId}/{role}",
    method: "DELETE",
    summary: "Revokes a role from a principal.",
    params: revokeParams,
    responses: { 200: { description: "revoked" } },
  },
  async ({ services, caller, params }) =>
    json(
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
