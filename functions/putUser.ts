import { defineHttp, json } from "../shared/adapters/http/define.js";
import { userBody, userParams } from "../shared/model/api.js";
import { putUser } from "../shared/usecases/directory.js";

export const handler = defineHttp(
  {
    name: "putUser",
    route: "users/{userId}",
    method: "PUT",
    narrowApps: ["Sharing.Provisioning"],
    summary: "Creates or updates a user of the tenant directory (Sharing.Admin).",
    params: userParams,
    body: userBody,
    responses: { 200: { description: "updated" }, 201: { description: "created" } },
  },
  async ({ services, caller, params, body }) => {
    const r = await putUser(services.caps, caller, { ...body, userId: params.userId });
    return json(r.created ? 201 : 200, r.user);
  },
);
