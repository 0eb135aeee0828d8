import { z } from "zod";
import { defineHttp } from "../shared/adapters/http/define.js";
import { htmlPage } from "../shared/model/responses.js";
import { errorPage } from "../shared/adapters/http/html.js";
import { reviewItemsPage, reviewRefusalPage } from "../shared/adapters/http/reviewPages.js";
import { csrfCookieOf, csrfField, csrfSetCookie, newCsrfCookieValue } from "../shared/reviews/csrf.js";
import { openReviewPage } from "../shared/usecases/reviews/page.js";
import { reviewPageDeps } from "../shared/usecases/reviews/pageCore.js";

// Any text: a garbled token or page gets an HTML page saying so, not a problem+json.
const params = z.object({ token: z.string() });
const query = z.object({
  page: z.string().optional().describe("the continuation of a later page (the page's Next page link)"),
  saved: z.string().optional().describe("how many decisions the last post saved, for the notice"),
});

export const handler = defineHttp(
  {
    name: "reviewPage",
    route: "review-pages/{token}",
    method: "GET",
    auth: false,
    summary:
      "The page a reviewer's email links to (docs/reviews.md): the reviewer's items of an access review, undecided first, 50 a page, with a form that decides them. Sets the form's CSRF cookie; changes nothing.",
    params,
    query,
    responses: {
      200: { description: "the reviewer's items and the form", contentType: "text/html", schema: htmlPage },
      400: { description: "not a valid link, or a changed page link", contentType: "text/html", schema: htmlPage },
      403: { description: "the person may no longer review these items", contentType: "text/html", schema: htmlPage },
      409: { description: "the review's items are still being gathered", contentType: "text/html", schema: htmlPage },
      410: { description: "the link expired, or the review ended", contentType: "text/html", schema: htmlPage },
      503: { description: "storage is busy; try again in a moment", contentType: "text/html", schema: htmlPage },
      500: { description: "an unexpected error, logged", contentType: "text/html", schema: htmlPage },
    },
  },
  async ({ services, params, query, request, context }) => {
    try {
      const deps = reviewPageDeps(services.caps, services.settings);
      const continuation = query.page === "" ? undefined : query.page;
      const opened = await openReviewPage(deps, params.token, continuation);
      if (!opened.ok) return reviewRefusalPage(opened);
      // The browser's cookie is kept when it has one, so a second tab's form stays valid.
      const cookie = csrfCookieOf(request.headers.get("cookie")) ?? newCsrfCookieValue();
      const saved = query.saved !== undefined && /^\d{1,3}$/.test(query.saved) ? Number(query.saved) : undefined;
      const res = reviewItemsPage(opened.model, params.token, {
        csrf: csrfField(deps.signingKey, cookie, params.token),
        ...(continuation !== undefined ? { page: continuation } : {}),
        ...(saved !== undefined ? { saved } : {}),
      });
      // One Set-Cookie header (not `cookies`): the local host and Azure both pass it through as is.
      return { ...res, headers: { ...res.headers, "set-cookie": csrfSetCookie(cookie, deps.publicBaseUrl) } };
    } catch (e) {
      return errorPage(e, (m) => context.error(m));
    }
  },
);
