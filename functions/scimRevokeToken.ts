import { defineHttp, noContent } from "../shared/adapters/http/define.js";
import { scimTokenParams } from "../shared/model/scim.js";
import { revokeScimToken } from "../shared/usecases/scim/tokens.js";

export const handler = defineHttp(
  {
    name: "scimRevokeToken",
    route: "environments/{envId}/scim/tokens/{tokenId}",
    method: "DELETE",
    summary: "Revokes a provisioning secret: refused from the next call on (environment admins, Sharing.Admin).",
    params: scimTokenParams,
    responses: { 204: { description: "revoked" } },
  },
  async ({ services, caller, params }) => {
    await revokeScimToken(services.caps, caller, params.envId, params.tokenId);
    return noContent();
  },
);
