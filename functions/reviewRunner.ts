import { app } from "@azure/functions";
import { getServices, startServices } from "../shared/main.js";
import { runReviewTimer } from "../shared/usecases/reviews/timer.js";

// Settings are checked as this module loads, so a bad one fails the app at start.
startServices();

/**
 * Access reviews (docs/reviews.md, "Lifecycle"): every minute, the recurring starts due, then every
 * instance not done yet a step further (snapshot, the reviewers' emails, the reminder halfway, the
 * default decisions at the end, applying denials, the summary). Idempotent, safe to run twice; each
 * instance resumes from the cursor on its run row.
 */
app.timer("reviewRunner", {
  schedule: "0 */1 * * * *",
  handler: async (_timer, context) => {
    const caps = getServices().caps;
    const r = await runReviewTimer({ ...caps, log: (m) => context.warn(m) }, { budgetMs: 50_000 });
    if (r.started + r.advanced + r.failed > 0)
      context.log(`reviews: ${r.started} started, ${r.advanced} advanced, ${r.failed} left for the next run`);
  },
});
