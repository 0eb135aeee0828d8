import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { envParams, pageOf, pageQuery, securityRoleView } from "../shared/model/api.js";
import { listSecurityRoles } from "../shared/usecases/securityRoles.js";

const answer = pageOf(securityRoleView);

export const handler = defineHttp(
  {
    name: "listSecurityRoles",
    route: "environments/{envId}/securityRoles",
    method: "GET",
    narrowApps: ["Sharing.Provisioning"],
    summary: "The environment's custom security roles, paged in role id order.",
    params: envParams,
    query: pageQuery,
    responses: { 200: { description: "a page of roles", schema: answer } },
  },
  async ({ services, caller, params, query }) =>
    typedJson(answer, 200, await listSecurityRoles(services.caps, caller, params.envId, query)),
);
