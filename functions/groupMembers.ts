import { z } from "zod";
import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { envGroupParams, pageOf, pageQuery } from "../shared/model/api.js";
import { listGroupMembers } from "../shared/usecases/directory.js";

const answer = pageOf(z.object({ userId: z.string() }));

export const handler = defineHttp(
  {
    name: "groupMembers",
    route: "environments/{envId}/groups/{groupId}/members",
    method: "GET",
    narrowApps: ["Sharing.Provisioning"],
    summary: "A group's or list's members, page by page in id order.",
    params: envGroupParams,
    query: pageQuery,
    responses: {
      200: { description: "a page of members", schema: answer },
    },
  },
  async ({ services, caller, params, query }) =>
    typedJson(answer, 200, await listGroupMembers(services.caps, caller, params.envId, params.groupId, query)),
);
