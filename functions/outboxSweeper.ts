import { app } from "@azure/functions";
import { getServices } from "../shared/main.js";
import { sweepOutbox } from "../shared/usecases/relay.js";

/** Finishes side effects a crash left in an outbox (index rows, change log, email jobs). */
app.timer("outboxSweeper", {
  schedule: "0 */1 * * * *",
  handler: async (_timer, context) => {
    const caps = getServices().caps;
    const relayed = await sweepOutbox({ ...caps, log: (m) => context.warn(m) });
    if (relayed > 0) context.log(`relayed ${relayed} partition(s) left with outbox items`);
  },
});
