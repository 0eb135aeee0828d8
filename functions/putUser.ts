import { defineHttp } from "../shared/adapters/http/define.js";
import { userBody, userParams } from "../shared/model/api.js";
import { putUser } from "../shared/usecases/directory.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { tenantUserResult } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "putUser",
    route: "users/{userId}",
    method: "PUT",
    narrowApps: ["Sharing.Provisioning"],
    summary: "Creates or updates a user of the tenant directory (Sharing.Admin).",
    params: userParams,
    body: userBody,
    responses: {
      200: { description: "updated", schema: tenantUserResult },
      201: { description: "created", schema: tenantUserResult },
    },
  },
  async ({ services, caller, params, body }) => {
    const r = await putUser(services.caps, caller, { ...body, userId: params.userId });
    return typedJson(tenantUserResult, r.created ? 201 : 200, r.user);
  },
);
