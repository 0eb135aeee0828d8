import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { envGroupParams, groupView } from "../shared/model/api.js";
import { getGroup } from "../shared/usecases/directory.js";

export const handler = defineHttp(
  {
    name: "getGroup",
    route: "environments/{envId}/groups/{groupId}",
    method: "GET",
    narrowApps: ["Sharing.Provisioning"],
    summary: "A group or list of the environment.",
    params: envGroupParams,
    responses: { 200: { description: "the group", schema: groupView } },
  },
  async ({ services, caller, params }) =>
    typedJson(groupView, 200, await getGroup(services.caps, caller, params.envId, params.groupId)),
);
