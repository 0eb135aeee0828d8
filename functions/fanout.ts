import { app } from "@azure/functions";
import { fanoutQueueName } from "../shared/appContract.js";
import { getServices, startServices } from "../shared/main.js";
import { handleFanout } from "../shared/usecases/fanout.js";

// Settings are checked as this module loads, so a bad one fails the app at start.
startServices();

/**
 * Brings group members' listings in line with a group's grants and membership, off the request path
 * (`shared/usecases/fanout.ts`). A failure throws, so the host redelivers; every message is
 * idempotent, and after the fifth dequeue it goes to `group-fanout-poison`.
 */
app.storageQueue("fanout", {
  queueName: fanoutQueueName,
  connection: "AzureWebJobsStorage",
  handler: async (message, context) => {
    const services = getServices();
    const outcome = await handleFanout({ ...services.caps, log: (m: string) => context.warn(m) }, message);
    context.log(outcome);
  },
});
