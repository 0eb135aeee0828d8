import { z } from "zod";
import { defineHttp } from "../shared/adapters/http/define.js";
import { htmlPage } from "../shared/model/responses.js";
import { errorPage, invitationPage, refusalPage } from "../shared/adapters/http/html.js";
import { invitationSettings, originOf } from "../shared/invitations/links.js";
import { openInvitation } from "../shared/usecases/invitations.js";

// Any text: a garbled token gets the "not valid" page, not a problem+json.
const params = z.object({ token: z.string() });

export const handler = defineHttp(
  {
    name: "invitationPage",
    route: "invitations/{token}",
    method: "GET",
    auth: false,
    summary:
      "The invitation page an email links to: the resource, the role, who shared it, and an Accept button. Changes nothing.",
    params,
    responses: {
      200: { description: "the invitation", contentType: "text/html", schema: htmlPage },
      400: { description: "not a valid link", contentType: "text/html", schema: htmlPage },
      409: { description: "a conflicting change; try again", contentType: "text/html", schema: htmlPage },
      410: { description: "expired or revoked", contentType: "text/html", schema: htmlPage },
      503: { description: "storage is busy; try again in a moment", contentType: "text/html", schema: htmlPage },
      500: { description: "an unexpected error, logged", contentType: "text/html", schema: htmlPage },
    },
  },
  async ({ services, params, context }) => {
    try {
      const opened = await openInvitation(
        { ...services.caps, invitations: invitationSettings(services.settings) },
        params.token,
      );
      return opened.ok
        ? invitationPage(opened.page, params.token, originOf(services.settings.APP_BASE_URL))
        : refusalPage(opened.reason);
    } catch (e) {
      return errorPage(e, (m) => context.error(m));
    }
  },
);
