import { z } from "zod";
import { offboardingTriggerSchema } from "./offboardings.js";
import { idSchema, principalRefSchema } from "./records.js";

const groupRefSchema = principalRefSchema.refine((p) => p.type !== "user", "must be a group or a list");

/**
 * Work on the fan-out queue (`functions/fanout.ts`): bringing members' index rows in line with a
 * group's grants and membership, about 100 members a message. Every message reads current state and
 * writes what that state says, so running one twice, late or out of order converges all the same.
 */
export const fanoutMessageSchema = z.discriminatedUnion("type", [
  /**
   * A group's or list's roles on a resource changed: its members' rows for that resource follow.
   * Without `memberIds` it splits itself into one message per 100 members.
   */
  z.object({
    type: z.literal("grant"),
    envId: idSchema,
    resourceId: idSchema,
    group: groupRefSchema,
    memberIds: z.array(idSchema).max(100).optional(),
  }),
  /**
   * Members joined or left a group or list: their rows for each resource it holds follow, 100
   * resources a message (`continuation` names the page of the group's index).
   */
  z.object({
    type: z.literal("members"),
    envId: idSchema,
    group: groupRefSchema,
    memberIds: z.array(idSchema).min(1).max(100),
    continuation: z.string().max(4000).optional(),
    /**
     * How many of `memberIds`, first in the list, joined (the others left; a count keeps the row small
     * for a 50,000-member PUT), the membership change's id and who made it:
     * joining a group that holds owner or co-owner in a sensitive environment alerts the admins, one
     * email per (resource, member, role) with an id derived from these, so a repeat sends nothing.
     * Absent on messages queued before alerts were added: those alert nobody.
     */
    joinedCount: z.number().int().min(0).max(100).optional(),
    changeId: idSchema.optional(),
    actorId: idSchema.optional(),
  }),
  /** A resource was renamed: every principal's rows for it follow. */
  z.object({ type: z.literal("reindex"), envId: idSchema, resourceId: idSchema }),
  /** A resource was deleted: every principal's rows for it go, then its partition. */
  z.object({ type: z.literal("purge"), envId: idSchema, resourceId: idSchema }),
  /**
   * A leaver was seen in an environment with `autoOffboard`: one time-budgeted step of their
   * offboarding, sent again (with the run's id) until it is done.
   */
  z.object({
    type: z.literal("offboard"),
    envId: idSchema,
    userId: idSchema,
    reason: offboardingTriggerSchema.exclude(["request"]),
    offboardingId: idSchema.optional(),
  }),
]);
export type FanoutMessage = z.infer<typeof fanoutMessageSchema>;
