import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { envParams, membershipView, pageOf, pageQuery } from "../shared/model/api.js";
import { listMemberships } from "../shared/usecases/reads.js";

const answer = pageOf(membershipView);

export const handler = defineHttp(
  {
    name: "listMemberships",
    route: "environments/{envId}/users",
    method: "GET",
    narrowApps: ["Sharing.Provisioning"],
    summary: "The environment's memberships, paged in user id order.",
    params: envParams,
    query: pageQuery,
    responses: { 200: { description: "a page of memberships", schema: answer } },
  },
  async ({ services, caller, params, query }) =>
    typedJson(answer, 200, await listMemberships(services.caps, caller, params.envId, query)),
);
