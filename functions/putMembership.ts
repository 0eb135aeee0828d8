import { defineHttp } from "../shared/adapters/http/define.js";
import { envUserParams, membershipBody } from "../shared/model/api.js";
import { putMembership } from "../shared/usecases/directory.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { membershipResult } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "putMembership",
    route: "environments/{envId}/users/{userId}",
    method: "PUT",
    narrowApps: ["Sharing.Provisioning"],
    summary: "Sets a tenant user's membership and security roles in an environment.",
    params: envUserParams,
    body: membershipBody,
    responses: {
      200: { description: "updated", schema: membershipResult },
      201: { description: "created", schema: membershipResult },
    },
  },
  async ({ services, caller, params, body }) => {
    const r = await putMembership(services.caps, caller, {
      envId: params.envId,
      userId: params.userId,
      securityRoles: body.securityRoles,
    });
    return typedJson(membershipResult, r.created ? 201 : 200, r.membership);
  },
);
