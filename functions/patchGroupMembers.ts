import { defineHttp } from "../shared/adapters/http/define.js";
import { envGroupParams, groupMembersBody } from "../shared/model/api.js";
import { patchGroupMembers } from "../shared/usecases/directory.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { membersPatched } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "patchGroupMembers",
    route: "environments/{envId}/groups/{groupId}/members",
    method: "PATCH",
    narrowApps: ["Sharing.Provisioning"],
    summary:
      "Adds and removes members of a group or list (up to 1,000 each); checks see it at once, members' listings within seconds.",
    params: envGroupParams,
    body: groupMembersBody,
    responses: {
      200: { description: "the members added and removed (those already so are left out)", schema: membersPatched },
    },
  },
  async ({ services, caller, params, body }) =>
    typedJson(membersPatched, 200, await patchGroupMembers(services.caps, caller, params.envId, params.groupId, body)),
);
