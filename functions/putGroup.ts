import { defineHttp, json } from "../shared/adapters/http/define.js";
import { envGroupParams, groupBody, groupBodyMaxBytes } from "../shared/model/api.js";
import { putGroup } from "../shared/usecases/directory.js";

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
    responses: { 200: { description: "updated" }, 201: { description: "created" } },
  },
  async ({ services, caller, params, body }) => {
    const r = await putGroup(services.caps, caller, { ...body, envId: params.envId, groupId: params.groupId });
    return json(r.created ? 201 : 200, r.group);
  },
);
