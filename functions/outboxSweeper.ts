import { app } from "@azure/functions";
import { getServices, startServices } from "../shared/main.js";
import { sweepOutbox } from "../shared/usecases/relay.js";

// Settings are checked as this module loads, so a bad one fails the app at start.
startServices();

/** Finishes side effects a crash left in an outbox (index rows, change log, email jobs). */
app.timer("outboxSweeper", {
  schedule: "0 */1 * * * *",
  handler: async (_timer, context) => {
    const caps = getServices().caps;
    const relayed = await sweepOutbox({ ...caps, log: (m) => context.warn(m) });
    if (relayed > 0) context.log(`relayed ${relayed} partition(s) left with outbox items`);
  },
});
