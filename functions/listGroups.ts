import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { envParams, groupView, pageOf, pageQuery } from "../shared/model/api.js";
import { listGroups } from "../shared/usecases/reads.js";

const answer = pageOf(groupView);

export const handler = defineHttp(
  {
    name: "listGroups",
    route: "environments/{envId}/groups",
    method: "GET",
    narrowApps: ["Sharing.Provisioning"],
    summary: "The environment's groups and lists, paged in id order.",
    params: envParams,
    query: pageQuery,
    responses: { 200: { description: "a page of groups", schema: answer } },
  },
  async ({ services, caller, params, query }) =>
    typedJson(answer, 200, await listGroups(services.caps, caller, params.envId, query)),
);
