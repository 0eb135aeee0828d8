import { z } from "zod";
import { emailJobSchema } from "./emailJobs.js";
import { expiryRowSchema } from "./expiry.js";
import { fanoutMessageSchema } from "./fanout.js";
import { changeEntrySchema, idSchema, principalRefSchema } from "./records.js";

/**
 * Side effects that must follow a change but live in other partitions. They are written in the
 * change's own transaction and applied by the relay right after it, or by the sweeper after a crash.
 * Every item is idempotent: applying it twice leaves the same state as once.
 */
export const outboxItemSchema = z.discriminatedUnion("type", [
  /**
   * Bring these principals' own index rows for the resource in line with their grants (for a group
   * or list, its members' rows follow through the fan-out queue).
   */
  z.object({
    id: z.string(),
    type: z.literal("index"),
    envId: idSchema,
    resourceId: idSchema,
    principals: z.array(principalRefSchema),
  }),
  /** Bring the environment's catalog row of the resource in line with its meta row. */
  z.object({ id: z.string(), type: z.literal("catalog"), envId: idSchema, resourceId: idSchema }),
  /** Copy change entries into the environment's change log. */
  z.object({ id: z.string(), type: z.literal("log"), envId: idSchema, entries: z.array(changeEntrySchema) }),
  /** Put jobs on the outbound email queue (the mailer deduplicates by each job's identity). */
  z.object({ id: z.string(), type: z.literal("email"), jobs: z.array(emailJobSchema) }),
  /** Put work on the fan-out queue (a group's members changed, a resource was renamed or deleted). */
  z.object({ id: z.string(), type: z.literal("fanout"), messages: z.array(fanoutMessageSchema).max(20) }),
  /** Bring the user's facts on the member rows of every environment they are in in line with their profile. */
  z.object({ id: z.string(), type: z.literal("memberFacts"), userId: idSchema }),
  /** Bring these principals' `owner|` rows of the resource in line with their ownership grants. */
  z.object({
    id: z.string(),
    type: z.literal("owners"),
    envId: idSchema,
    resourceId: idSchema,
    principals: z.array(principalRefSchema).max(200),
  }),
  /** Copy one change entry about the user (a profile change) into the log of every environment they are in. */
  z.object({ id: z.string(), type: z.literal("userLog"), userId: idSchema, entry: changeEntrySchema }),
  /** Write a time-bound grant's expiry rows (its reminders and its removal), which the expiry timer reads when due. */
  z.object({ id: z.string(), type: z.literal("expiry"), rows: z.array(expiryRowSchema).max(60) }),
]);
export type OutboxItem = z.infer<typeof outboxItemSchema>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type OutboxItemInput = DistributiveOmit<OutboxItem, "id">;
