import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { securityRoleParams, securityRoleView } from "../shared/model/api.js";
import { getSecurityRole } from "../shared/usecases/securityRoles.js";

export const handler = defineHttp(
  {
    name: "getSecurityRole",
    route: "environments/{envId}/securityRoles/{roleId}",
    method: "GET",
    narrowApps: ["Sharing.Provisioning"],
    summary: "A custom security role of the environment.",
    params: securityRoleParams,
    responses: { 200: { description: "the role", schema: securityRoleView } },
  },
  async ({ services, caller, params }) =>
    typedJson(securityRoleView, 200, await getSecurityRole(services.caps, caller, params.envId, params.roleId)),
);
