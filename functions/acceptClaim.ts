import { z } from "zod";
import { defineHttp } from "../shared/adapters/http/define.js";
import { htmlPage } from "../shared/model/responses.js";
import { errorPage, seeOther } from "../shared/adapters/http/html.js";
import { claimRefusalPage } from "../shared/adapters/http/claimPages.js";
import { invitationSettings } from "../shared/invitations/links.js";
import { acceptClaim } from "../shared/usecases/claims.js";

const params = z.object({ token: z.string() });

export const handler = defineHttp(
  {
    name: "acceptClaim",
    route: "claims/{token}/accept",
    method: "POST",
    auth: false,
    summary:
      "Claims an ownerless resource (the page's button): the first candidate to accept becomes its primary owner and is redirected to it in the product; accepting again redirects again.",
    params,
    responses: {
      303: { description: "claimed; Location is the resource's page in the product" },
      400: { description: "not a valid link", contentType: "text/html", schema: htmlPage },
      403: { description: "this candidate can't claim it (says why)", contentType: "text/html", schema: htmlPage },
      409: {
        description: "someone else claimed it first (says who), or a conflicting change",
        contentType: "text/html",
        schema: htmlPage,
      },
      410: { description: "expired, or the claim ended", contentType: "text/html", schema: htmlPage },
      503: { description: "storage is busy; try again in a moment", contentType: "text/html", schema: htmlPage },
      500: { description: "an unexpected error, logged", contentType: "text/html", schema: htmlPage },
    },
  },
  async ({ services, params, context }) => {
    try {
      const accepted = await acceptClaim(
        { ...services.caps, invitations: invitationSettings(services.settings) },
        params.token,
      );
      return accepted.ok ? seeOther(accepted.location) : claimRefusalPage(accepted);
    } catch (e) {
      return errorPage(e, (m) => context.error(m));
    }
  },
);
