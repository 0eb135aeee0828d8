import { z } from "zod";
import { defineHttp } from "../shared/adapters/http/define.js";
import { htmlPage } from "../shared/model/responses.js";
import { errorPage } from "../shared/adapters/http/html.js";
import { claimPage, claimRefusalPage } from "../shared/adapters/http/claimPages.js";
import { invitationSettings, originOf } from "../shared/invitations/links.js";
import { openClaim } from "../shared/usecases/claims.js";

// Any text: a garbled token gets the "not valid" page, not a problem+json.
const params = z.object({ token: z.string() });

export const handler = defineHttp(
  {
    name: "claimPage",
    route: "claims/{token}",
    method: "GET",
    auth: false,
    summary:
      "The page a claim email links to: the ownerless resource and a Claim button (docs/claims.md). Changes nothing.",
    params,
    responses: {
      200: { description: "the claim", contentType: "text/html", schema: htmlPage },
      400: { description: "not a valid link", contentType: "text/html", schema: htmlPage },
      403: { description: "this candidate can't claim it (says why)", contentType: "text/html", schema: htmlPage },
      409: { description: "someone else claimed it first (says who)", contentType: "text/html", schema: htmlPage },
      410: { description: "expired, or the claim ended", contentType: "text/html", schema: htmlPage },
      503: { description: "storage is busy; try again in a moment", contentType: "text/html", schema: htmlPage },
      500: { description: "an unexpected error, logged", contentType: "text/html", schema: htmlPage },
    },
  },
  async ({ services, params, context }) => {
    try {
      const opened = await openClaim(
        { ...services.caps, invitations: invitationSettings(services.settings) },
        params.token,
      );
      return opened.ok
        ? claimPage(opened.page, params.token, originOf(services.settings.APP_BASE_URL))
        : claimRefusalPage(opened);
    } catch (e) {
      return errorPage(e, (m) => context.error(m));
    }
  },
);
