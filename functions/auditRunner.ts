import { app } from "@azure/functions";
import { getServices, startServices } from "../shared/main.js";
import { continuePendingAudits } from "../shared/usecases/audits/request.js";

// Settings are checked as this module loads, so a bad one fails the app at start.
startServices();

/**
 * Continues every audit not finished yet: those larger than one request's or one timer run's budget,
 * and those a crash or an error stopped. Each continues from its last finished page.
 */
app.timer("auditRunner", {
  schedule: "30 */1 * * * *",
  handler: async (_timer, context) => {
    const caps = getServices().caps;
    const finished = await continuePendingAudits(
      { ...caps, log: (m) => context.warn(m) },
      { budgetMs: 240_000, progress: (line) => context.log(line) },
    );
    if (finished > 0) context.log(`finished ${finished} audit(s)`);
  },
});
