import { z } from "zod";
import { defineHttp } from "../shared/adapters/http/define.js";
import { htmlPage } from "../shared/model/responses.js";
import { errorPage, seeOther } from "../shared/adapters/http/html.js";
import { reviewBadFormPage, reviewItemsPage, reviewRefusalPage } from "../shared/adapters/http/reviewPages.js";
import { csrfCookieOf, csrfField } from "../shared/reviews/csrf.js";
import { maxReviewFormBytes } from "../shared/reviews/form.js";
import { submitReviewPage } from "../shared/usecases/reviews/page.js";
import { reviewPageDeps } from "../shared/usecases/reviews/pageCore.js";

const params = z.object({ token: z.string() });

/** The form's fields, for the OpenAPI document: the handler reads the body itself (`shared/reviews/form.ts`). */
const formFields = z
  .object({
    csrf: z.string().describe("the form's CSRF token, matching the review-csrf cookie the page set"),
    page: z.string().optional().describe("the page the form was on, to come back to"),
  })
  .catchall(z.string())
  .describe(
    "decision.{itemId}: approve | deny | dontKnow (an item with none is not decided); justification.{itemId}: up to 1,000 characters; at most 50 items",
  );

export const handler = defineHttp(
  {
    name: "submitReviewPage",
    route: "review-pages/{token}",
    method: "POST",
    auth: false,
    summary:
      "The reviewer page's form post: saves the chosen decisions through the same use case as POST .../decisions, all or nothing, and answers 303 back to the page with a notice. Needs the form's CSRF field and cookie.",
    params,
    documentedBody: { contentType: "application/x-www-form-urlencoded", schema: formFields },
    responses: {
      303: { description: "saved; Location is the page again, with ?saved=N" },
      400: {
        description:
          "not a valid link, a form the page did not send, or refused decisions (the page again, each item's error)",
        contentType: "text/html",
        schema: htmlPage,
      },
      403: {
        description: "the form's token is missing or wrong (not from the page), or the person may no longer review",
        contentType: "text/html",
        schema: htmlPage,
      },
      409: { description: "the review's items are still being gathered", contentType: "text/html", schema: htmlPage },
      410: { description: "the link expired, or the review ended", contentType: "text/html", schema: htmlPage },
      503: { description: "storage is busy; try again in a moment", contentType: "text/html", schema: htmlPage },
      500: { description: "an unexpected error, logged", contentType: "text/html", schema: htmlPage },
    },
  },
  async ({ services, params, request, context }) => {
    try {
      const deps = reviewPageDeps(services.caps, services.settings);
      const declared = Number(request.headers.get("content-length") ?? "0");
      if (declared > maxReviewFormBytes)
        return reviewBadFormPage([`The form is larger than ${maxReviewFormBytes} bytes.`]);
      const cookieHeader = request.headers.get("cookie");
      const r = await submitReviewPage(deps, params.token, {
        body: await request.text(),
        contentType: request.headers.get("content-type"),
        cookieHeader,
        origin: request.headers.get("origin"),
      });
      if (r.ok) {
        const q = new URLSearchParams({ ...(r.page ? { page: r.page } : {}), saved: String(r.saved) });
        return seeOther(`/api/review-pages/${encodeURIComponent(params.token)}?${q.toString()}`);
      }
      switch (r.reason) {
        case "badForm":
          return reviewBadFormPage(r.errors);
        case "itemErrors": {
          // The CSRF check passed, so the cookie is there: the page again carries a field for it.
          const cookie = csrfCookieOf(cookieHeader) ?? "";
          return reviewItemsPage(r.model, params.token, {
            csrf: csrfField(deps.signingKey, cookie, params.token),
            ...(r.page ? { page: r.page } : {}),
            itemErrors: r.itemErrors,
            entered: r.entered,
          });
        }
        default:
          return reviewRefusalPage(r);
      }
    } catch (e) {
      return errorPage(e, (m) => context.error(m));
    }
  },
);
