import { z } from "zod";
import { ConcurrencyError } from "../errors.js";
import type { OutboxItem } from "../model/outbox.js";
import { idSchema } from "../model/records.js";
import {
  reviewDefinitionSchema,
  reviewerRowSchema,
  reviewInstanceSchema,
  reviewItemSchema,
  reviewItemViewSchema,
  type ReviewDefinition,
  type ReviewerKey,
  type ReviewInstance,
  type ReviewItem,
  type ReviewItemView,
} from "../model/reviews.js";
import type { RowStore, WriteOp } from "../ports/rows.js";
import { keys, newestFirstKey } from "./keys.js";
import { decodePageToken, encodePageToken } from "./pageToken.js";
import { decodeRow, encodeRow, writeOneRow } from "./rowJson.js";

const isoTime = z.string().datetime({ offset: true });

/** Layout of the Reviews table (docs/reviews.md, "Storage"; docs/storage.md). */
export const reviewKeys = {
  defsPk: (envId: string) => `${envId}|defs`,
  recurPk: "recur",
  recurRk: (nextStartAt: string, envId: string, reviewId: string) => `${nextStartAt}|${envId}|${reviewId}`,
  openPk: "open",
  openRk: (envId: string, reviewId: string, instanceId: string) => `${envId}|${reviewId}|${instanceId}`,
  instancePk: (envId: string, reviewId: string, instanceId: string) => `${envId}|${reviewId}|${instanceId}`,
  instancesPk: (envId: string, reviewId: string) => `${envId}|${reviewId}|instances`,
  runRk: "run",
  itemPrefix: "item|",
  itemRk: (itemId: string) => `item|${itemId}`,
  revUndecidedPrefix: (key: ReviewerKey) => `rev|${key}|u|`,
  revDecidedPrefix: (key: ReviewerKey) => `rev|${key}|d|`,
  /** A reviewer's index row: `u` while the item is undecided, `d` once decided (a decision moves it). */
  revRk: (key: ReviewerKey, view: Pick<ReviewItemView, "decision" | "resourceId" | "itemId">) =>
    `rev|${key}|${view.decision ? "d" : "u"}|${view.resourceId}|${view.itemId}`,
  reviewerPrefix: "reviewer|",
  reviewerRk: (key: ReviewerKey) => `reviewer|${key}`,
};

/** A row of the `open` partition: an instance the runner still has work on. */
export const openReviewSchema = z.object({ envId: idSchema, reviewId: idSchema, instanceId: idSchema });
export type OpenReview = z.infer<typeof openReviewSchema>;

/** A row of the `recur` partition: a recurring definition's next start. */
export const recurRowSchema = z.object({ envId: idSchema, reviewId: idSchema, nextStartAt: isoTime });
export type RecurRow = z.infer<typeof recurRowSchema>;

const instanceRefSchema = z.object({ instanceId: idSchema, createdAt: isoTime });

/** The storage's continuation of a range, as this API hands it out (`pageToken.ts`). */
const rangeTokenSchema = z.object({ c: z.string().max(4000) });
/** A reviewer's index: the undecided rows (`u`) first, then the decided (`d`). */
const revTokenSchema = z.object({ part: z.enum(["u", "d"]), c: z.string().max(4000).optional() });

/** The operations one item adds to a decision's transaction: its row and, per reviewer key, a delete and a write. */
export const decisionOpCount = (item: Pick<ReviewItem, "reviewers">) => 1 + 2 * item.reviewers.length;
/** At most this many operations in one transaction (Azure Tables). */
export const maxTransactionOps = 100;

/** One item's decision: the row as read (with its ETag) and as it is to be. */
export interface ItemChange {
  before: ReviewItem;
  etag: string;
  after: ReviewItem;
}

/**
 * The Reviews table (docs/reviews.md): definitions, recurring starts, the `open` index the runner
 * walks, and one partition per instance holding everything its decisions touch, so a decision is
 * one entity-group transaction.
 */
export class ReviewRows {
  constructor(
    private readonly rows: RowStore,
    private readonly table: string,
  ) {}

  // Definitions -----------------------------------------------------------------------------

  /** One point read, with the row's ETag. */
  async getDefinition(
    envId: string,
    reviewId: string,
  ): Promise<{ definition: ReviewDefinition; etag: string } | undefined> {
    const row = await this.rows.get(this.table, reviewKeys.defsPk(envId), reviewId);
    return row ? { definition: decodeRow(reviewDefinitionSchema, row), etag: row.etag ?? "*" } : undefined;
  }

  /** Inserts a definition (`etag` undefined; ConcurrencyError when it exists) or replaces it under `etag`. */
  async putDefinition(definition: ReviewDefinition, etag: string | undefined): Promise<string> {
    const fields = encodeRow(definition);
    const rk = definition.reviewId;
    return writeOneRow(
      this.rows,
      this.table,
      reviewKeys.defsPk(definition.envId),
      etag === undefined ? { op: "insert", rk, fields } : { op: "replace", rk, fields, etag },
    );
  }

  /** One request: a page of the environment's definitions, by id. */
  async definitionsPage(envId: string, continuation: string | undefined, top: number) {
    const page = await this.rows.queryPage(this.table, reviewKeys.defsPk(envId), [{ all: true }], {
      continuation: continuation && decodePageToken(rangeTokenSchema, continuation).c,
      pageSize: top,
    });
    return {
      definitions: page.rows.map((r) => decodeRow(reviewDefinitionSchema, r)),
      continuation: page.continuation ? encodePageToken({ c: page.continuation }) : undefined,
    };
  }

  // Recurring starts --------------------------------------------------------------------------

  async putRecur(r: RecurRow): Promise<void> {
    await this.rows.transact(this.table, reviewKeys.recurPk, [
      { op: "upsert", rk: reviewKeys.recurRk(r.nextStartAt, r.envId, r.reviewId), fields: encodeRow(r) },
    ]);
  }

  async deleteRecur(r: RecurRow): Promise<void> {
    await this.rows.delete(this.table, reviewKeys.recurPk, reviewKeys.recurRk(r.nextStartAt, r.envId, r.reviewId));
  }

  /**
   * One request: recurring starts due at `now` or before, oldest first. A row whose definition no
   * longer names its `nextStartAt` is stale (the definition changed): the reader drops it.
   */
  async dueRecurPage(now: Date, continuation: string | undefined, top = 100) {
    // Keys start with an ISO instant (toISOString), which sorts by time; `}` sorts after the `|` that follows it.
    const page = await this.rows.queryPage(
      this.table,
      reviewKeys.recurPk,
      [{ from: "", to: `${now.toISOString()}}` }],
      { continuation, pageSize: top },
    );
    return { rows: page.rows.map((r) => decodeRow(recurRowSchema, r)), continuation: page.continuation };
  }

  // Open instances -----------------------------------------------------------------------------

  async putOpen(o: OpenReview): Promise<void> {
    await this.rows.transact(this.table, reviewKeys.openPk, [
      { op: "upsert", rk: reviewKeys.openRk(o.envId, o.reviewId, o.instanceId), fields: encodeRow(o) },
    ]);
  }

  async deleteOpen(o: OpenReview): Promise<void> {
    await this.rows.delete(this.table, reviewKeys.openPk, reviewKeys.openRk(o.envId, o.reviewId, o.instanceId));
  }

  /** One request: a page of the instances not done yet. */
  async openPage(continuation: string | undefined, top = 100) {
    const page = await this.rows.queryPage(this.table, reviewKeys.openPk, [{ all: true }], {
      continuation,
      pageSize: top,
    });
    return { rows: page.rows.map((r) => decodeRow(openReviewSchema, r)), continuation: page.continuation };
  }

  // Instances --------------------------------------------------------------------------------

  /**
   * Starts an instance: the `open` row first (an open row without its run row is dropped by the
   * runner), then the run row, then the review's list of instances. False when the run row exists
   * already (the same start twice): nothing else is written then.
   */
  async createInstance(run: ReviewInstance): Promise<boolean> {
    const { envId, reviewId, instanceId } = run;
    await this.putOpen({ envId, reviewId, instanceId });
    try {
      await this.rows.transact(this.table, reviewKeys.instancePk(envId, reviewId, instanceId), [
        { op: "insert", rk: reviewKeys.runRk, fields: encodeRow(run) },
      ]);
    } catch (e) {
      if (e instanceof ConcurrencyError) return false;
      throw e;
    }
    await this.rows.transact(this.table, reviewKeys.instancesPk(envId, reviewId), [
      {
        op: "upsert",
        rk: newestFirstKey(new Date(run.createdAt), instanceId),
        fields: encodeRow({ instanceId, createdAt: run.createdAt }),
      },
    ]);
    return true;
  }

  /** One point read of the run row, with its ETag. */
  async getRun(
    envId: string,
    reviewId: string,
    instanceId: string,
  ): Promise<{ run: ReviewInstance; etag: string } | undefined> {
    const row = await this.rows.get(this.table, reviewKeys.instancePk(envId, reviewId, instanceId), reviewKeys.runRk);
    return row ? { run: decodeRow(reviewInstanceSchema, row), etag: row.etag ?? "*" } : undefined;
  }

  /**
   * Replaces the run row under its ETag (ConcurrencyError when someone else wrote it), with `outbox`
   * rows in the same transaction when given (a finished instance's log entry and summary email).
   * Returns the new ETag. Fits `Lease`'s `PutRow`.
   */
  async putRun(run: ReviewInstance, etag: string, outbox: readonly OutboxItem[] = []): Promise<string> {
    const pk = reviewKeys.instancePk(run.envId, run.reviewId, run.instanceId);
    const op = { op: "replace", rk: reviewKeys.runRk, fields: encodeRow(run), etag } as const;
    if (outbox.length === 0) return writeOneRow(this.rows, this.table, pk, op);
    const etags = await this.rows.transact(this.table, pk, [
      op,
      ...outbox.map((o): WriteOp => ({ op: "upsert", rk: keys.outboxRk(o.id), fields: encodeRow(o) })),
    ]);
    return etags.get(reviewKeys.runRk) ?? (await this.runEtag(run));
  }

  /** A batch's replaced rows may come back without their ETag (Azurite): read it back. */
  private async runEtag(run: ReviewInstance): Promise<string> {
    const read = await this.getRun(run.envId, run.reviewId, run.instanceId);
    if (!read) throw new ConcurrencyError(`review instance ${run.instanceId} vanished right after its write`);
    return read.etag;
  }

  /** One request: a page of the review's instances, newest first. */
  async instancesPage(envId: string, reviewId: string, continuation: string | undefined, top: number) {
    const page = await this.rows.queryPage(this.table, reviewKeys.instancesPk(envId, reviewId), [{ all: true }], {
      continuation: continuation && decodePageToken(rangeTokenSchema, continuation).c,
      pageSize: top,
    });
    return {
      instances: page.rows.map((r) => decodeRow(instanceRefSchema, r)),
      continuation: page.continuation ? encodePageToken({ c: page.continuation }) : undefined,
    };
  }

  // Items ------------------------------------------------------------------------------------

  /**
   * Upserts items with their reviewer index rows, and reviewer rows for `reviewerKeys`, in
   * transactions of at most 100 operations, `concurrency` at once. Idempotent: writing a page again
   * writes the same rows (item ids come from the grant).
   */
  async putItems(
    envId: string,
    reviewId: string,
    instanceId: string,
    items: readonly ReviewItem[],
    reviewerKeys: readonly ReviewerKey[] = [],
    concurrency = 4,
  ): Promise<{ rows: number; transactions: number }> {
    const batches: WriteOp[][] = [];
    let batch: WriteOp[] = [];
    const add = (ops: WriteOp[]) => {
      if (batch.length + ops.length > maxTransactionOps) {
        batches.push(batch);
        batch = [];
      }
      batch.push(...ops);
    };
    for (const item of items) add(itemOps(item));
    for (const key of new Set(reviewerKeys))
      add([{ op: "upsert", rk: reviewKeys.reviewerRk(key), fields: encodeRow({ reviewerKey: key }) }]);
    if (batch.length > 0) batches.push(batch);
    const pk = reviewKeys.instancePk(envId, reviewId, instanceId);
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const ops = batches[next++]!;
        await this.rows.transact(this.table, pk, ops);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, worker));
    return { rows: batches.reduce((n, b) => n + b.length, 0), transactions: batches.length };
  }

  /** One point read of an item, with its ETag. */
  async getItem(
    envId: string,
    reviewId: string,
    instanceId: string,
    itemId: string,
  ): Promise<{ item: ReviewItem; etag: string } | undefined> {
    const row = await this.rows.get(
      this.table,
      reviewKeys.instancePk(envId, reviewId, instanceId),
      reviewKeys.itemRk(itemId),
    );
    return row ? { item: decodeRow(reviewItemSchema, row), etag: row.etag ?? "*" } : undefined;
  }

  /** One request: a page of every item of the instance, by item id. */
  async itemsPage(envId: string, reviewId: string, instanceId: string, continuation: string | undefined, top: number) {
    const page = await this.rows.queryPage(
      this.table,
      reviewKeys.instancePk(envId, reviewId, instanceId),
      [{ prefix: reviewKeys.itemPrefix }],
      { continuation: continuation && decodePageToken(rangeTokenSchema, continuation).c, pageSize: top },
    );
    return {
      items: page.rows.map((r) => decodeRow(reviewItemSchema, r)),
      continuation: page.continuation ? encodePageToken({ c: page.continuation }) : undefined,
    };
  }

  /**
   * A page of one reviewer's items, undecided first (by resource), then decided: at most two
   * requests (the rest of the undecided range, then the start of the decided one).
   */
  async reviewerPage(
    envId: string,
    reviewId: string,
    instanceId: string,
    key: ReviewerKey,
    continuation: string | undefined,
    top: number,
  ): Promise<{ items: ReviewItemView[]; continuation: string | undefined }> {
    const pk = reviewKeys.instancePk(envId, reviewId, instanceId);
    let at = continuation ? decodePageToken(revTokenSchema, continuation) : { part: "u" as const };
    const items: ReviewItemView[] = [];
    for (;;) {
      const prefix = at.part === "u" ? reviewKeys.revUndecidedPrefix(key) : reviewKeys.revDecidedPrefix(key);
      const page = await this.rows.queryPage(this.table, pk, [{ prefix }], {
        continuation: at.c,
        pageSize: top - items.length,
      });
      items.push(...page.rows.map((r) => decodeRow(reviewItemViewSchema, r)));
      if (page.continuation) return { items, continuation: encodePageToken({ part: at.part, c: page.continuation }) };
      if (at.part === "d") return { items, continuation: undefined };
      at = { part: "d" };
      // The page is full: the decided rows start the next page.
      if (items.length >= top) return { items, continuation: encodePageToken(at) };
    }
  }

  /** Whether the reviewer key has any undecided item: one `top 1` range query. */
  async hasUndecided(envId: string, reviewId: string, instanceId: string, key: ReviewerKey): Promise<boolean> {
    const pk = reviewKeys.instancePk(envId, reviewId, instanceId);
    let continuation: string | undefined;
    do {
      const page = await this.rows.queryPage(this.table, pk, [{ prefix: reviewKeys.revUndecidedPrefix(key) }], {
        continuation,
        pageSize: 1,
      });
      if (page.rows.length > 0) return true;
      continuation = page.continuation;
    } while (continuation);
    return false;
  }

  /** One request: a page of the instance's reviewer keys (`reviewer|` rows). */
  async reviewersPage(
    envId: string,
    reviewId: string,
    instanceId: string,
    continuation: string | undefined,
    top = 1000,
  ) {
    const page = await this.rows.queryPage(
      this.table,
      reviewKeys.instancePk(envId, reviewId, instanceId),
      [{ prefix: reviewKeys.reviewerPrefix }],
      { continuation, pageSize: top },
    );
    return {
      reviewerKeys: page.rows.map((r) => decodeRow(reviewerRowSchema, r).reviewerKey),
      continuation: page.continuation,
    };
  }

  /**
   * Decisions in one entity-group transaction: each item's row replaced under its ETag, its reviewer
   * index rows moved between `u` and `d` (or rewritten), and the run row replaced under its ETag
   * (with the counts the caller computed). ConcurrencyError when any of them changed since read.
   * At most 100 operations (`decisionOpCount` per item, plus one). Returns the run row's new ETag.
   */
  async decide(run: ReviewInstance, runEtag: string, changes: readonly ItemChange[]): Promise<string> {
    const ops: WriteOp[] = [];
    for (const { before, etag, after } of changes) {
      ops.push({ op: "replace", rk: reviewKeys.itemRk(after.itemId), fields: encodeRow(after), etag });
      const view = encodeRow(viewOf(after));
      for (const key of after.reviewers) {
        const from = reviewKeys.revRk(key, before);
        const to = reviewKeys.revRk(key, after);
        if (from !== to) ops.push({ op: "delete", rk: from });
        ops.push({ op: "upsert", rk: to, fields: view });
      }
    }
    ops.push({ op: "replace", rk: reviewKeys.runRk, fields: encodeRow(run), etag: runEtag });
    if (ops.length > maxTransactionOps)
      throw new Error(`a decision transaction of ${ops.length} operations is over ${maxTransactionOps}`);
    const pk = reviewKeys.instancePk(run.envId, run.reviewId, run.instanceId);
    const etags = await this.rows.transact(this.table, pk, ops);
    return etags.get(reviewKeys.runRk) ?? (await this.runEtag(run));
  }
}

/** An item's reviewer-facing part, as its index rows hold it. */
export function viewOf(item: ReviewItem): ReviewItemView {
  const { reviewers: _r, outcome: _o, outcomeDetail: _d, ...view } = item;
  return view;
}

function itemOps(item: ReviewItem): WriteOp[] {
  const view = encodeRow(viewOf(item));
  return [
    { op: "upsert", rk: reviewKeys.itemRk(item.itemId), fields: encodeRow(item) },
    ...item.reviewers.map((key): WriteOp => ({ op: "upsert", rk: reviewKeys.revRk(key, item), fields: view })),
  ];
}
