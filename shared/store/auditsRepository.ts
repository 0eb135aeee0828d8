import { z } from "zod";
import { ConcurrencyError } from "../errors.js";
import type { OutboxItem } from "../model/outbox.js";
import {
  auditRunSchema,
  auditStatsSchema,
  findingSchema,
  inventoryItemSchema,
  type AuditRun,
  type Finding,
  type InventoryItem,
} from "../model/audits.js";
import { environmentSchema, idSchema } from "../model/records.js";
import { queryAll, type WriteOp } from "../ports/rows.js";
import { AuditReads } from "./auditReads.js";
import { keys } from "./keys.js";
import type { SharingRepository } from "./repository.js";
import { decodeRow, encodedLength, encodeRow, maxJsonChars, writeOneRow } from "./rowJson.js";

const isoTime = z.string().datetime({ offset: true });
const chunkSchema = z.object({ findings: z.array(findingSchema) });
const inventoryChunkSchema = z.object({ items: z.array(inventoryItemSchema) });
const trendRowSchema = z.object({
  auditId: idSchema,
  finishedAt: isoTime,
  resources: z.number().int().min(0),
  grants: z.number().int().min(0),
  findings: z.number().int().min(0),
  byRule: auditStatsSchema.shape.byRule,
});
export type TrendPoint = z.infer<typeof trendRowSchema>;
const pendingSchema = z.object({ envId: idSchema, auditId: idSchema, createdAt: isoTime.optional() });

/**
 * Layout of the Audits table: a partition per audit (the run row and its finding chunks, one query
 * reads a whole report), and one `pending` partition indexing the audits not finished yet, which the
 * runner timer walks.
 */
const auditKeys = {
  pk: (envId: string, auditId: string) => `${envId}|${auditId}`,
  runRk: "run",
  chunkPrefix: "findings|",
  chunkRk: (seq: number) => `findings|${seq.toString().padStart(7, "0")}`,
  pendingPk: "pending",
  pendingRk: (envId: string, auditId: string) => `${envId}|${auditId}`,
  inventoryRk: (seq: number) => `inventory|${seq.toString().padStart(7, "0")}`,
  // An id starts with a letter or digit, so `_trend|…` is never an audit's `{envId}|{auditId}`.
  trendPk: (envId: string) => `_trend|${envId}`,
  /** Newest first: the finish time counted down from year 2286, then the audit (two audits may finish in one ms). */
  trendRk: (finishedAt: string, auditId: string) =>
    `${(9_999_999_999_999 - Date.parse(finishedAt)).toString().padStart(13, "0")}|${auditId}`,
};

/** How many finished audits the trend shows. */
export const trendLength = 12;
/** Most resources an inventory chunk holds: a chunk is a page of the report's inventory. */
export const inventoryPageSize = 100;

/** Splits findings into chunks whose JSON stays under the size of one table property. */
export function chunkFindings(findings: readonly Finding[]): Finding[][] {
  return chunkBySize(findings, Infinity);
}

/** Splits inventory items into chunks of at most `inventoryPageSize`, each under the size of one table property. */
export function chunkInventory(items: readonly InventoryItem[]): InventoryItem[][] {
  return chunkBySize(items, inventoryPageSize);
}

function chunkBySize<T>(items: readonly T[], maxItems: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let size = 20;
  for (const f of items) {
    const n = encodedLength(f) + 1;
    if (current.length > 0 && (size + n > maxJsonChars || current.length >= maxItems)) {
      chunks.push(current);
      current = [];
      size = 20;
    }
    current.push(f);
    size += n;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** The audit's partition, which also holds the outbox rows of its completion (`OutboxTable` "audits"). */
export const auditPartition = (envId: string, auditId: string) => auditKeys.pk(envId, auditId);

export class AuditsRepository {
  /** What a run reads of the audited environment, by range. */
  readonly reads: AuditReads;

  constructor(private readonly repo: SharingRepository) {
    this.reads = new AuditReads(repo.rows, repo.tables);
  }

  private get table(): string {
    return this.repo.tables.audits;
  }

  async getRun(envId: string, auditId: string): Promise<{ run: AuditRun; etag: string } | undefined> {
    const row = await this.repo.rows.get(this.table, auditKeys.pk(envId, auditId), auditKeys.runRk);
    return row ? { run: decodeRow(auditRunSchema, row), etag: row.etag ?? "*" } : undefined;
  }

  /** Creates an audit and indexes it as pending (index first: an index row without its audit is dropped by the runner). False when it exists already. */
  async create(run: AuditRun): Promise<boolean> {
    await this.repo.rows.transact(this.table, auditKeys.pendingPk, [
      {
        op: "upsert",
        rk: auditKeys.pendingRk(run.envId, run.auditId),
        fields: encodeRow({ envId: run.envId, auditId: run.auditId, createdAt: run.createdAt }),
      },
    ]);
    try {
      await this.repo.rows.transact(this.table, auditKeys.pk(run.envId, run.auditId), [
        { op: "insert", rk: auditKeys.runRk, fields: encodeRow(run) },
      ]);
      return true;
    } catch (e) {
      if (e instanceof ConcurrencyError) return false;
      throw e;
    }
  }

  /**
   * Replaces the run row under its ETag; throws ConcurrencyError when another runner wrote it.
   * `outbox`: rows of what must follow (the finished audit's change log entry), in the same
   * transaction, so the audit is never done without them.
   */
  async putRun(run: AuditRun, etag: string, outbox: readonly OutboxItem[] = []): Promise<string> {
    const pk = auditKeys.pk(run.envId, run.auditId);
    const op = { op: "replace", rk: auditKeys.runRk, fields: encodeRow(run), etag } as const;
    if (outbox.length === 0) return writeOneRow(this.repo.rows, this.table, pk, op);
    const etags = await this.repo.rows.transact(this.table, pk, [
      op,
      ...outbox.map((o): WriteOp => ({ op: "upsert", rk: keys.outboxRk(o.id), fields: encodeRow(o) })),
    ]);
    // A batch's replaced rows may come back without their ETag (Azurite): read it (once an audit).
    const written = etags.get(auditKeys.runRk) ?? (await this.getRun(run.envId, run.auditId))?.etag;
    if (!written) throw new ConcurrencyError(`audit ${run.auditId} of ${run.envId} vanished right after its write`);
    return written;
  }

  /**
   * Writes finding chunks numbered from `firstSeq`. Upserts: a run that stopped after writing some
   * chunks but before counting them on its run row writes the same numbers again.
   */
  async putChunks(envId: string, auditId: string, firstSeq: number, chunks: readonly Finding[][]): Promise<void> {
    const ops: WriteOp[] = chunks.map((findings, i) => ({
      op: "upsert",
      rk: auditKeys.chunkRk(firstSeq + i),
      fields: encodeRow({ findings }),
    }));
    // A few chunks per transaction keeps each request far below the 4 MB batch limit.
    for (let i = 0; i < ops.length; i += 20)
      await this.repo.rows.transact(this.table, auditKeys.pk(envId, auditId), ops.slice(i, i + 20));
  }

  /** Writes inventory chunks numbered from `firstSeq`; upserts, as `putChunks`. */
  async putInventory(
    envId: string,
    auditId: string,
    firstSeq: number,
    chunks: readonly InventoryItem[][],
  ): Promise<void> {
    const ops: WriteOp[] = chunks.map((items, i) => ({
      op: "upsert",
      rk: auditKeys.inventoryRk(firstSeq + i),
      fields: encodeRow({ items }),
    }));
    for (let i = 0; i < ops.length; i += 20)
      await this.repo.rows.transact(this.table, auditKeys.pk(envId, auditId), ops.slice(i, i + 20));
  }

  /** One inventory chunk (a page of the report's inventory): one point read; empty when absent. */
  async inventoryChunk(envId: string, auditId: string, seq: number): Promise<InventoryItem[]> {
    const row = await this.repo.rows.get(this.table, auditKeys.pk(envId, auditId), auditKeys.inventoryRk(seq));
    return row ? decodeRow(inventoryChunkSchema, row).items : [];
  }

  /** Finding chunks `from` up to (not including) `to`, in the order written: one range query. */
  async findingChunks(envId: string, auditId: string, from: number, to: number): Promise<Finding[]> {
    if (to <= from) return [];
    const rows = await queryAll(this.repo.rows, this.table, auditKeys.pk(envId, auditId), [
      { from: auditKeys.chunkRk(from), to: auditKeys.chunkRk(to) },
    ]);
    return rows.flatMap((r) => decodeRow(chunkSchema, r).findings);
  }

  /**
   * Indexes a finished audit under its environment for the trend. An upsert keyed by the finish time
   * stored on the run row: writing it again (a rerun of the finishing step) changes nothing.
   */
  async putTrend(run: AuditRun): Promise<void> {
    if (run.status !== "done" || !run.finishedAt) return;
    const point: TrendPoint = {
      auditId: run.auditId,
      finishedAt: run.finishedAt,
      resources: run.stats.resources,
      grants: run.stats.grants,
      findings: run.stats.findings,
      byRule: run.stats.byRule,
    };
    await this.repo.rows.transact(this.table, auditKeys.trendPk(run.envId), [
      { op: "upsert", rk: auditKeys.trendRk(run.finishedAt, run.auditId), fields: encodeRow(point) },
    ]);
  }

  /**
   * The environment's finished audits up to and including the one that finished at `finishedAt`,
   * newest first, at most `trendLength`: one query of one page.
   */
  async trend(envId: string, upTo: { finishedAt: string; auditId: string }): Promise<TrendPoint[]> {
    const page = await this.repo.rows.queryPage(
      this.table,
      auditKeys.trendPk(envId),
      [{ from: auditKeys.trendRk(upTo.finishedAt, upTo.auditId), to: "~" }],
      { pageSize: trendLength },
    );
    return page.rows.slice(0, trendLength).map((r) => decodeRow(trendRowSchema, r));
  }

  /** The first `count` chunks' findings, in the order written. */
  async findings(envId: string, auditId: string, count: number): Promise<Finding[]> {
    if (count === 0) return [];
    const rows = await queryAll(this.repo.rows, this.table, auditKeys.pk(envId, auditId), [
      { prefix: auditKeys.chunkPrefix },
    ]);
    return rows.filter((r) => r.rk < auditKeys.chunkRk(count)).flatMap((r) => decodeRow(chunkSchema, r).findings);
  }

  async *pending(): AsyncIterable<{ envId: string; auditId: string; createdAt?: string | undefined }> {
    let continuation: string | undefined;
    do {
      const page = await this.repo.rows.queryPage(this.table, auditKeys.pendingPk, [{ all: true }], { continuation });
      for (const row of page.rows) yield decodeRow(pendingSchema, row);
      continuation = page.continuation;
    } while (continuation);
  }

  async removePending(envId: string, auditId: string): Promise<void> {
    await this.repo.rows.delete(this.table, auditKeys.pendingPk, auditKeys.pendingRk(envId, auditId));
  }

  /**
   * Sets the environment's `lastAuditAt` (never backwards), under the row's ETag so an admin's
   * concurrent `PUT /environments` is neither lost nor overwritten with stale values.
   */
  async markEnvironmentAudited(envId: string, at: string): Promise<void> {
    for (let tries = 0; tries < 5; tries++) {
      const row = await this.repo.rows.get(this.repo.tables.environments, keys.environmentPk, envId);
      if (!row) return;
      const env = decodeRow(environmentSchema, row);
      if (env.lastAuditAt && env.lastAuditAt >= at) return;
      try {
        await this.repo.rows.transact(this.repo.tables.environments, keys.environmentPk, [
          { op: "replace", rk: envId, fields: encodeRow({ ...env, lastAuditAt: at }), etag: row.etag ?? "*" },
        ]);
        return;
      } catch (e) {
        if (!(e instanceof ConcurrencyError)) throw e;
      }
    }
    throw new ConcurrencyError(`environment ${envId} kept changing while its audit time was recorded`);
  }
}
