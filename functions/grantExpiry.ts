import { app } from "@azure/functions";
import { appContract } from "../shared/appContract.js";
import { getServices, startServices } from "../shared/main.js";
import { runExpiries } from "../shared/usecases/expiry.js";

// Settings are checked as this module loads, so a bad one fails the app at start.
startServices();

/**
 * Time-bound grants (docs/expiry.md): every minute, the expiry rows due by now (reminders 14 days
 * and 1 day ahead, removals at expiry), read by day from the timer's cursor, never a scan of the
 * grants. Idempotent, safe to run twice; what fails stays for the next run.
 */
app.timer("grantExpiry", {
  // `GRANT_EXPIRY_SCHEDULE` (NCRONTAB; Bicep sets it, a test host moves it out of the way); every minute by default.
  schedule: process.env.GRANT_EXPIRY_SCHEDULE
    ? "%GRANT_EXPIRY_SCHEDULE%"
    : appContract.settings.GRANT_EXPIRY_SCHEDULE.default,
  handler: async (_timer, context) => {
    const caps = getServices().caps;
    const r = await runExpiries({ ...caps, log: (m) => context.log(m) }, { budgetMs: 50_000 });
    if (r.done + r.failed > 0) context.log(`grant expiry: ${r.done} step(s) done, ${r.failed} kept for the next run`);
  },
});
