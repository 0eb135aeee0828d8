import { z } from "zod";
import { defineHttp } from "../shared/adapters/http/define.js";
import { htmlPage } from "../shared/model/responses.js";
import { errorPage, refusalPage, seeOther } from "../shared/adapters/http/html.js";
import { invitationSettings } from "../shared/invitations/links.js";
import { acceptInvitation } from "../shared/usecases/invitations.js";

const params = z.object({ token: z.string() });

export const handler = defineHttp(
  {
    name: "acceptInvitation",
    route: "invitations/{token}/accept",
    method: "POST",
    auth: false,
    summary:
      "Accepts an invitation (the page's button) and redirects to the resource in the product; accepting again redirects again.",
    params,
    responses: {
      303: { description: "accepted; Location is the resource's page in the product" },
      400: { description: "not a valid link", contentType: "text/html", schema: htmlPage },
      409: { description: "a conflicting change; try again", contentType: "text/html", schema: htmlPage },
      410: { description: "expired or revoked", contentType: "text/html", schema: htmlPage },
      503: { description: "storage is busy; try again in a moment", contentType: "text/html", schema: htmlPage },
      500: { description: "an unexpected error, logged", contentType: "text/html", schema: htmlPage },
    },
  },
  async ({ services, params, context }) => {
    try {
      const accepted = await acceptInvitation(
        { ...services.caps, invitations: invitationSettings(services.settings) },
        params.token,
      );
      return accepted.ok ? seeOther(accepted.location) : refusalPage(accepted.reason);
    } catch (e) {
      return errorPage(e, (m) => context.error(m));
    }
  },
);
