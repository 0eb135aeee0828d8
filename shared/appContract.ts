import contract from "../infra/appContract.json" with { type: "json" };

/**
 * The app's contract with its platform (`infra/appContract.json`): the queues and the settings, with their kinds.
 * `infra/main.bicep` reads the same file, so the names the code uses are the names Azure is given.
 */
export const appContract = contract;

/** A setting `shared/config.ts` reads. */
export type SettingName = keyof typeof contract.settings;

/** The queue the use cases add email jobs to and the mailer triggers on. */
export const emailQueueName: string = contract.queues.email.name;

/** Where the Functions host moves an email job after `maxDequeueCount` failed attempts. */
export const emailPoisonQueueName: string = contract.queues.email.poisonQueue;

/** The queue group fan-out work goes to, off the request path (`functions/fanout.ts`). */
export const fanoutQueueName: string = contract.queues.fanout.name;

/** Where the host moves fan-out work after `maxDequeueCount` failed attempts. */
export const fanoutPoisonQueueName: string = contract.queues.fanout.poisonQueue;

/** Webhook events and their delivery attempts, retried through the message's visibility delay (`functions/webhookDelivery.ts`). */
export const webhookQueueName: string = contract.queues.webhooks.name;
