import { defineHttp } from "../shared/adapters/http/define.js";
import { resourceParams, shareBody } from "../shared/model/api.js";
import { share } from "../shared/usecases/sharing.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { shareResult } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "share",
    route: "environments/{envId}/resources/{resourceId}/shares",
    method: "POST",
    idempotent: true,
    summary: "Shares a role with principals and invites them.",
    params: resourceParams,
    body: shareBody,
    responses: {
      201: { description: "granted", schema: shareResult },
      200: { description: "already granted; nothing changed", schema: shareResult },
    },
  },
  async ({ services, caller, params, body }) => {
    const r = await share(services.caps, caller, params.envId, params.resourceId, body);
    return typedJson(shareResult, r.created ? 201 : 200, {
      grants: r.grants,
      invitations: r.invitations.map((i) => ({ id: i.id, principalId: i.principalId, status: i.status })),
      warnings: r.warnings,
    });
  },
);
