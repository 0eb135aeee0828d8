import { defineHttp, json } from "../shared/adapters/http/define.js";
import { environmentView, pageOf, pageQuery } from "../shared/model/api.js";
import { listEnvironments } from "../shared/usecases/reads.js";

export const handler = defineHttp(
  {
    name: "listEnvironments",
    route: "environments",
    method: "GET",
    summary: "Environments, paged: every one for Sharing.Admin apps, a user's own for a user.",
    query: pageQuery,
    responses: { 200: { description: "a page of environments", schema: pageOf(environmentView) } },
  },
  async ({ services, caller, query }) => json(200, await listEnvironments(services.caps, caller, query)),
);
