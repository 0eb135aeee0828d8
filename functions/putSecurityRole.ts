import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { securityRoleBody, securityRoleParams, securityRoleView } from "../shared/model/api.js";
import { putSecurityRole } from "../shared/usecases/securityRoles.js";

export const handler = defineHttp(
  {
    name: "putSecurityRole",
    route: "environments/{envId}/securityRoles/{roleId}",
    method: "PUT",
    summary: "Creates or replaces a custom security role of the environment and its privileges per kind.",
    params: securityRoleParams,
    body: securityRoleBody,
    responses: {
      200: { description: "updated", schema: securityRoleView },
      201: { description: "created", schema: securityRoleView },
    },
  },
  async ({ services, caller, params, body }) => {
    const r = await putSecurityRole(services.caps, caller, { ...body, envId: params.envId, roleId: params.roleId });
    return typedJson(securityRoleView, r.created ? 201 : 200, r.role);
  },
);
