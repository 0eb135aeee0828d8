import { defineHttp, json } from "../shared/adapters/http/define.js";
import { envParams, membershipView, pageOf, pageQuery } from "../shared/model/api.js";
import { listMemberships } from "../shared/usecases/reads.js";

export const handler = defineHttp(
  {
    name: "listMemberships",
    route: "environments/{envId}/users",
    method: "GET",
    narrowApps: ["Sharing.Provisioning"],
    summary: "The environment's memberships, paged in user id order.",
    params: envParams,
    query: pageQuery,
    responses: { 200: { description: "a page of memberships", schema: pageOf(membershipView) } },
  },
  async ({ services, caller, params, query }) =>
    json(200, await listMemberships(services.caps, caller, params.envId, query)),
);
