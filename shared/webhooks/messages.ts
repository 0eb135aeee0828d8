import { z } from "zod";
import { cloudEventSchema } from "../model/webhooks.js";
import { idSchema } from "../model/records.js";

/** The most attempts one delivery gets: the first, then one after each wait of the schedule. */
export const maxAttempts = 8;

/**
 * What goes on the webhook queue (`functions/webhookDelivery.ts`):
 * - `event`: a committed change's event, sent by the relay beside the change log write; the trigger
 *   makes one delivery per subscription that wants it.
 * - `attempt`: attempt `attempt` of one delivery, sent at once for the first and with the retry wait
 *   as the message's visibility delay for the others.
 */
export const webhookMessageSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("event"), envId: idSchema, event: cloudEventSchema }),
  z.object({
    kind: z.literal("attempt"),
    envId: idSchema,
    subscriptionId: idSchema,
    deliveryId: idSchema,
    attempt: z.number().int().min(1).max(maxAttempts),
  }),
]);
export type WebhookMessage = z.infer<typeof webhookMessageSchema>;
