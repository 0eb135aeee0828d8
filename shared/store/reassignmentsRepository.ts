import { z } from "zod";
import { idSchema, kindSchema } from "../model/records.js";
import { queryAll } from "../ports/rows.js";
import type { SharingRepository } from "./repository.js";
import { decodeRow, encodeRow, writeOneRow } from "./rowJson.js";

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

/**
 * Layout of the Reassignments table: the job row in a partition per (environment, from, to), each
 * run's result rows in a partition of their own (a run may touch thousands of resources).
 */
const reassignKeys = {
  jobPk: (envId: string, from: string, to: string) => `${envId}|${from}|${to}`,
  jobRk: "job",
  itemsPk: (envId: string, runId: string) => `${envId}|run|${runId}`,
  itemRk: (resourceId: string) => `item|${resourceId}`,
  itemPrefix: "item|",
};

export class ReassignmentsRepository {
  constructor(private readonly repo: SharingRepository) {}

  private get table(): string {
    return this.repo.tables.reassignments;
  }

  async getJob(envId: string, from: string, to: string): Promise<{ job: ReassignmentJob; etag: string } | undefined> {
    const row = await this.repo.rows.get(this.table, reassignKeys.jobPk(envId, from, to), reassignKeys.jobRk);
    return row ? { job: decodeRow(reassignmentJobSchema, row), etag: row.etag ?? "*" } : undefined;
  }

  /**
   * Writes the job under the ETag it was read with ("new" for a job that must not exist yet).
   * Throws ConcurrencyError when someone else wrote it meanwhile. Returns the new ETag.
   */
  async putJob(job: ReassignmentJob, etag: string | "new"): Promise<string> {
    const op =
      etag === "new"
        ? ({ op: "insert", rk: reassignKeys.jobRk, fields: encodeRow(job) } as const)
        : ({ op: "replace", rk: reassignKeys.jobRk, fields: encodeRow(job), etag } as const);
    return writeOneRow(this.repo.rows, this.table, reassignKeys.jobPk(job.envId, job.fromUserId, job.toUserId), op);
  }

  async getItem(envId: string, runId: string, resourceId: string): Promise<ReassignmentItem | undefined> {
    const row = await this.repo.rows.get(
      this.table,
      reassignKeys.itemsPk(envId, runId),
      reassignKeys.itemRk(resourceId),
    );
    return row ? decodeRow(reassignmentItemSchema, row) : undefined;
  }

  async putItem(envId: string, runId: string, item: ReassignmentItem): Promise<void> {
    await this.repo.rows.transact(this.table, reassignKeys.itemsPk(envId, runId), [
      { op: "upsert", rk: reassignKeys.itemRk(item.resourceId), fields: encodeRow(item) },
    ]);
  }

  async deleteItem(envId: string, runId: string, resourceId: string): Promise<void> {
    await this.repo.rows.delete(this.table, reassignKeys.itemsPk(envId, runId), reassignKeys.itemRk(resourceId));
  }

  /** Every result row of a run, in resource id order. */
  async items(envId: string, runId: string): Promise<ReassignmentItem[]> {
    const rows = await queryAll(this.repo.rows, this.table, reassignKeys.itemsPk(envId, runId), [
      { prefix: reassignKeys.itemPrefix },
    ]);
    return rows.map((r) => decodeRow(reassignmentItemSchema, r));
  }
}
