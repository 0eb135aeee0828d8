import { z } from "zod";
import { idSchema, kindSchema } from "./records.js";

const isoTime = z.string().datetime({ offset: true });

/**
 * The progress of reassigning one user's records to another in one environment. There is one job row
 * per (environment, from, to): re-posting the same request finds it and continues after `cursor`
 * (the catalog page after the last one finished), which is how an interrupted run is resumed.
 */
export const reassignmentJobSchema = z.object({
  envId: idSchema,
  fromUserId: idSchema,
  toUserId: idSchema,
  /** Names this run's result rows; a new run (after a finished one) gets a new id. */
  runId: z.string().min(1).max(64),
  status: z.enum(["running", "done"]),
  actorId: idSchema,
  /** The catalog continuation after the last finished page; absent before the first page. */
  cursor: z.string().max(4000).optional(),
  pagesDone: z.number().int().min(0),
  resourcesScanned: z.number().int().min(0),
  startedAt: isoTime,
  updatedAt: isoTime,
  finishedAt: isoTime.optional(),
  /** Whoever runs the job holds it until then, so two requests never walk the same job at once. */
  leaseUntil: isoTime.optional(),
  leaseId: z.string().max(64).optional(),
});
export type ReassignmentJob = z.infer<typeof reassignmentJobSchema>;

export const connectionToFixSchema = z.object({
  resourceId: idSchema,
  connectionId: idSchema,
  connector: z.string(),
  ownerId: idSchema,
});
export type ConnectionToFix = z.infer<typeof connectionToFixSchema>;

/**
 * What a run did (or, written before the change, will do) to one resource. Written before the
 * resource's own transaction, so a run that crashes between the two still reports the resource when
 * resumed, and a resumed run that finds the change made knows it was this run's.
 */
export const reassignmentItemSchema = z.object({
  resourceId: idSchema,
  kind: kindSchema,
  displayName: z.string(),
  outcome: z.enum(["reassigned", "needsCopy", "none"]),
  /** Reassigned flows whose creator was the leaving user: the creator stays an owner (never removed). */
  creatorKeptAsOwner: z.boolean().optional(),
  connectionsToFix: z.array(connectionToFixSchema),
});
export type ReassignmentItem = z.infer<typeof reassignmentItemSchema>;
