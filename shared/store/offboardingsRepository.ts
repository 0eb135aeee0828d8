import { z } from "zod";
import {
  offboardingItemSchema,
  offboardingJobSchema,
  type OffboardingItem,
  type OffboardingJob,
} from "../model/offboardings.js";
import type { SharingRepository } from "./repository.js";
import { decodeRow, encodeRow, writeOneRow } from "./rowJson.js";

/**
 * Layout of the Offboardings table: per (environment, user) a `current` row naming the user's latest
 * run; per run a partition with its job row and one result row per resource it touched (a leaver may
 * hold thousands of grants).
 */
const offboardKeys = {
  userPk: (envId: string, userId: string) => `${envId}|user|${userId}`,
  currentRk: "current",
  runPk: (envId: string, offboardingId: string) => `${envId}|run|${offboardingId}`,
  jobRk: "job",
  itemRk: (resourceId: string) => `item|${resourceId}`,
  itemPrefix: "item|",
};

const currentSchema = z.object({ offboardingId: z.string().min(1).max(128) });

export class OffboardingsRepository {
  constructor(private readonly repo: SharingRepository) {}

  private get table(): string {
    return this.repo.tables.offboardings;
  }

  /** The run the user's `current` row names, with that row's ETag. */
  async current(envId: string, userId: string): Promise<{ offboardingId: string; etag: string } | undefined> {
    const row = await this.repo.rows.get(this.table, offboardKeys.userPk(envId, userId), offboardKeys.currentRk);
    return row ? { ...decodeRow(currentSchema, row), etag: row.etag ?? "*" } : undefined;
  }

  /** Points the user's `current` row at a run, under the ETag it was read with ("new": must not exist). Throws ConcurrencyError otherwise. */
  async putCurrent(envId: string, userId: string, offboardingId: string, etag: string | "new"): Promise<void> {
    const fields = encodeRow({ offboardingId });
    await writeOneRow(
      this.repo.rows,
      this.table,
      offboardKeys.userPk(envId, userId),
      etag === "new"
        ? { op: "insert", rk: offboardKeys.currentRk, fields }
        : { op: "replace", rk: offboardKeys.currentRk, fields, etag },
    );
  }

  async getJob(envId: string, offboardingId: string): Promise<{ job: OffboardingJob; etag: string } | undefined> {
    const row = await this.repo.rows.get(this.table, offboardKeys.runPk(envId, offboardingId), offboardKeys.jobRk);
    return row ? { job: decodeRow(offboardingJobSchema, row), etag: row.etag ?? "*" } : undefined;
  }

  /** Writes the job row under its ETag ("new": must not exist). Throws ConcurrencyError when another writer came first. */
  async putJob(job: OffboardingJob, etag: string | "new"): Promise<string> {
    const fields = encodeRow(job);
    return writeOneRow(
      this.repo.rows,
      this.table,
      offboardKeys.runPk(job.envId, job.offboardingId),
      etag === "new"
        ? { op: "insert", rk: offboardKeys.jobRk, fields }
        : { op: "replace", rk: offboardKeys.jobRk, fields, etag },
    );
  }

  async getItem(envId: string, offboardingId: string, resourceId: string): Promise<OffboardingItem | undefined> {
    const row = await this.repo.rows.get(
      this.table,
      offboardKeys.runPk(envId, offboardingId),
      offboardKeys.itemRk(resourceId),
    );
    return row ? decodeRow(offboardingItemSchema, row) : undefined;
  }

  async putItem(envId: string, offboardingId: string, item: OffboardingItem): Promise<void> {
    await this.repo.rows.transact(this.table, offboardKeys.runPk(envId, offboardingId), [
      { op: "upsert", rk: offboardKeys.itemRk(item.resourceId), fields: encodeRow(item) },
    ]);
  }

  /** A page of a run's result rows, in resource id order. */
  async itemsPage(
    envId: string,
    offboardingId: string,
    continuation: string | undefined,
    pageSize: number,
  ): Promise<{ items: OffboardingItem[]; continuation: string | undefined }> {
    const page = await this.repo.rows.queryPage(
      this.table,
      offboardKeys.runPk(envId, offboardingId),
      [{ prefix: offboardKeys.itemPrefix }],
      { continuation, pageSize },
    );
    return { items: page.rows.map((r) => decodeRow(offboardingItemSchema, r)), continuation: page.continuation };
  }
}
