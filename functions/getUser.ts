import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { tenantUserView, userParams } from "../shared/model/api.js";
import { getTenantUser } from "../shared/usecases/reads.js";

export const handler = defineHttp(
  {
    name: "getUser",
    route: "users/{userId}",
    method: "GET",
    narrowApps: ["Sharing.Provisioning"],
    summary: "A user of the tenant directory (Sharing.Admin, Sharing.Provisioning, or the user).",
    params: userParams,
    responses: { 200: { description: "the user", schema: tenantUserView } },
  },
  async ({ services, caller, params }) =>
    typedJson(tenantUserView, 200, await getTenantUser(services.caps, caller, params.userId)),
);
