import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { environmentView, pageOf, pageQuery } from "../shared/model/api.js";
import { listEnvironments } from "../shared/usecases/reads.js";

const answer = pageOf(environmentView);

export const handler = defineHttp(
  {
    name: "listEnvironments",
    route: "environments",
    method: "GET",
    summary: "Environments, paged: every one for Sharing.Admin apps, a user's own for a user.",
    query: pageQuery,
    responses: { 200: { description: "a page of environments", schema: answer } },
  },
  async ({ services, caller, query }) => typedJson(answer, 200, await listEnvironments(services.caps, caller, query)),
);
