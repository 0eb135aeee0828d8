import { app } from "@azure/functions";
import { getServices, startServices } from "../shared/main.js";
import { auditEveryEnvironment } from "../shared/usecases/audits/request.js";

// Settings are checked as this module loads, so a bad one fails the app at start.
startServices();

/**
 * Audits every environment on `AUDIT_SCHEDULE` (NCRONTAB, default every day at 03:00) and emails each
 * report to that environment's admins. Bicep and local.settings set the setting; the literal default
 * keeps a host without it (a bare test host) starting, as the settings schema's default would.
 */
app.timer("scheduledAudit", {
  schedule: process.env.AUDIT_SCHEDULE ? "%AUDIT_SCHEDULE%" : "0 0 3 * * *",
  handler: async (_timer, context) => {
    const caps = getServices().caps;
    const r = await auditEveryEnvironment(
      { ...caps, log: (m) => context.warn(m) },
      { budgetMs: 240_000, progress: (line) => context.log(line) },
    );
    context.log(
      `scheduled audits: ${r.created} environment(s), ${r.finished} finished now; the rest continue in auditRunner`,
    );
  },
});
