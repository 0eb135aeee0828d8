import {
  reassignmentItemSchema,
  reassignmentJobSchema,
  type ReassignmentItem,
  type ReassignmentJob,
} from "../model/reassignments.js";
import { queryAll } from "../ports/rows.js";
import type { SharingRepository } from "./repository.js";
import { decodeRow, encodeRow, writeOneRow } from "./rowJson.js";

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
