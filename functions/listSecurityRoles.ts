import { defineHttp, json } from "../shared/adapters/http/define.js";
import { envParams, pageOf, pageQuery, securityRoleView } from "../shared/model/api.js";
import { listSecurityRoles } from "../shared/usecases/securityRoles.js";

export const handler = defineHttp(
  {
    name: "listSecurityRoles",
    route: "environments/{envId}/securityRoles",
    method: "GET",
    narrowApps: ["Sharing.Provisioning"],
    summary: "The environment's custom security roles, paged in role id order.",
    params: envParams,
    query: pageQuery,
    responses: { 200: { description: "a page of roles", schema: pageOf(securityRoleView) } },
  },
  async ({ services, caller, params, query }) =>
    json(200, await listSecurityRoles(services.caps, caller, params.envId, query)),
);
