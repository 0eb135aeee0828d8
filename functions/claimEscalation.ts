import { app } from "@azure/functions";
import { getServices, startServices } from "../shared/main.js";
import { escalateDueClaims } from "../shared/usecases/claims.js";

// Settings are checked as this module loads, so a bad one fails the app at start.
startServices();

/**
 * Emails the environment admins about ownership claims nobody took by their deadline (docs/claims.md).
 * Reads only the deadline rows that are due; safe to run twice (a due row goes once its job is queued,
 * and the mailer drops a repeated job by its operation id).
 */
app.timer("claimEscalation", {
  schedule: "0 */15 * * * *",
  handler: async (_timer, context) => {
    const caps = getServices().caps;
    const r = await escalateDueClaims({ ...caps, log: (m) => context.warn(m) }, { budgetMs: 240_000 });
    if (r.escalated + r.dropped > 0)
      context.log(`claims: ${r.escalated} escalated to admins, ${r.dropped} deadline row(s) dropped`);
  },
});
