import { defineHttp } from "../shared/adapters/http/define.js";
import { envGroupParams, groupBody, groupBodyMaxBytes } from "../shared/model/api.js";
import { putGroup } from "../shared/usecases/directory.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { groupResult } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "putGroup",
    route: "environments/{envId}/groups/{groupId}",
    method: "PUT",
    narrowApps: ["Sharing.Provisioning"],
    summary:
      "Creates or updates a security group or SharePoint list and, when memberIds is given, replaces its members (up to 50,000).",
    maxBodyBytes: groupBodyMaxBytes,
    params: envGroupParams,
    body: groupBody,
    responses: {
      200: { description: "updated", schema: groupResult },
      201: { description: "created", schema: groupResult },
    },
  },
  async ({ services, caller, params, body }) => {
    const r = await putGroup(services.caps, caller, { ...body, envId: params.envId, groupId: params.groupId });
    return typedJson(groupResult, r.created ? 201 : 200, r.group);
  },
);
