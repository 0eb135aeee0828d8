import { randomBytes } from "node:crypto";
import type { OutboxItem } from "../model/outbox.js";
import type { Resource } from "../model/records.js";
import type { SharingRepository } from "../store/repository.js";
import type { Capabilities } from "./capabilities.js";

/**
 * The fields a job row keeps for a walk of the environment's catalog: where it stands and who holds
 * it. Audit runs and reassignment jobs both carry them.
 */
export interface WalkState {
  /** The catalog continuation after the last finished page; absent before the first page. */
  cursor?: string | undefined;
  leaseId?: string | undefined;
  /** Whoever walks holds the row until then, so two runners never walk one job at once. */
  leaseUntil?: string | undefined;
}

/**
 * Writes a row under the ETag it was read with (and `outbox` rows, when given, in its transaction),
 * returning the new ETag; throws ConcurrencyError when someone else wrote it.
 */
export type PutRow<R> = (row: R, etag: string, outbox?: readonly OutboxItem[]) => Promise<string>;

/** A lease outlives its holder's time budget by this much, so a slow last write still holds it. */
const leaseMarginMs = 60_000;

/** Whether a live holder has the row now: its lease has not run out. */
export const leaseHeld = (row: WalkState, now: Date): boolean =>
  row.leaseUntil !== undefined && new Date(row.leaseUntil) > now;

/**
 * One holder's lease on a job row. Every write goes under the ETag of the one before, so a holder
 * whose lease ran out and was taken over fails its next write with ConcurrencyError instead of
 * writing over the new holder's progress.
 */
export class Lease<R extends WalkState> {
  private readonly started = Date.now();
  private readonly id = randomBytes(8).toString("hex");

  private constructor(
    private current: R,
    private etag: string,
    private readonly put: PutRow<R>,
    private readonly clock: () => Date,
    private readonly budgetMs: number,
  ) {}

  /**
   * Takes the row for `budgetMs` (plus a margin): writes it, stamped with a new lease, under `etag`.
   * Throws ConcurrencyError when another runner wrote it first. Callers check `leaseHeld` before,
   * to leave a live holder alone.
   */
  static async take<R extends WalkState>(
    row: R,
    etag: string,
    put: PutRow<R>,
    deps: Pick<Capabilities, "clock">,
    budgetMs: number,
  ): Promise<Lease<R>> {
    const lease = new Lease(row, etag, put, deps.clock, budgetMs);
    await lease.save(row);
    return lease;
  }

  /**
   * The row as this holder last meant to write it. After a failed write it is the row that was not
   * written: the work it records is done, so releasing writes it.
   */
  get row(): R {
    return this.current;
  }

  /** Whether this holder's time budget, counted from taking the lease, is used. */
  outOfTime(): boolean {
    return Date.now() - this.started >= this.budgetMs;
  }

  /** Writes the next row, holding the lease for another budget. */
  async save(next: R): Promise<void> {
    const until = new Date(this.clock().getTime() + this.budgetMs + leaseMarginMs).toISOString();
    this.current = { ...next, leaseId: this.id, leaseUntil: until };
    this.etag = await this.put(this.current, this.etag);
  }

  /**
   * Writes the next row (by default the current one) without a lease: the next runner may take it at
   * once. `outbox`: what must follow this write (a finished job's log entry), in its transaction.
   */
  async release(next: R = this.current, outbox?: readonly OutboxItem[]): Promise<void> {
    this.current = { ...next, leaseId: undefined, leaseUntil: undefined };
    this.etag = await this.put(this.current, this.etag, outbox);
  }
}

/** The environment's catalog from `cursor` on, a page at a time, each read only when the one before is done with. */
export async function* catalogPages(
  repo: Pick<SharingRepository, "catalogPage">,
  envId: string,
  cursor: string | undefined,
  pageSize: number,
): AsyncGenerator<{ resources: Resource[]; continuation: string | undefined }> {
  do {
    const page = await repo.catalogPage(envId, cursor, pageSize);
    yield page;
    cursor = page.continuation;
  } while (cursor);
}

export interface WalkOptions {
  pageSize: number;
  /** Resources visited at once within a page. */
  concurrency: number;
  /**
   * Whether the catalog's end is the end of the job: the last page's row is written without the
   * lease. Otherwise the holder keeps the lease and goes on with other work.
   */
  endsTheJob: boolean;
}

/**
 * Walks pages under a lease, from the cursor on the lease's row (which `pages` started from). Each
 * page carries `cursor`, where the walk resumes after it (undefined after the last); `afterPage`
 * turns the row and the page into the next row, which is written with that cursor before the next
 * page is read. A walk that stops (time budget, crash, a lost lease) therefore repeats at most one
 * page when continued. Stops at the last page ("end") or after the page during which the lease's
 * budget was used ("outOfTime", lease released so the next runner continues at once), unless the
 * page says `progressed: false`: its cursor would resume where this walk started, so stopping there
 * would make no progress.
 */
export async function walkPages<R extends WalkState, P extends { cursor: string | undefined; progressed?: boolean }>(
  lease: Lease<R>,
  pages: AsyncIterable<P>,
  endsTheJob: boolean,
  afterPage: (row: R, page: P) => Promise<R>,
): Promise<"end" | "outOfTime"> {
  for await (const page of pages) {
    const outOfTime = lease.outOfTime() && page.progressed !== false;
    const next = { ...(await afterPage(lease.row, page)), cursor: page.cursor };
    const ended = page.cursor === undefined;
    if ((ended && endsTheJob) || outOfTime) await lease.release(next);
    else await lease.save(next);
    if (ended && endsTheJob) return "end";
    if (outOfTime) return "outOfTime";
  }
  return "end";
}

/**
 * Walks the environment's catalog under a lease (`walkPages`), from the cursor on the lease's row.
 * Each page's resources go to `visit`, at most `concurrency` at once; then `afterPage` turns the row
 * and the visits' results (in the order they finished) into the next row.
 */
export async function walkCatalog<R extends WalkState, T>(
  deps: Pick<Capabilities, "repo">,
  envId: string,
  lease: Lease<R>,
  options: WalkOptions,
  visit: (resource: Resource) => Promise<T>,
  afterPage: (row: R, page: { resources: Resource[]; continuation: string | undefined }, results: T[]) => Promise<R>,
): Promise<"end" | "outOfTime"> {
  async function* visited() {
    for await (const page of catalogPages(deps.repo, envId, lease.row.cursor, options.pageSize)) {
      const results: T[] = [];
      await forEachLimit(page.resources, options.concurrency, async (r) => {
        results.push(await visit(r));
      });
      yield { page, results, cursor: page.continuation };
    }
  }
  return walkPages(lease, visited(), options.endsTheJob, (row, v) => afterPage(row, v.page, v.results));
}

/** Runs `f` over the items, at most `limit` at a time; the first failure rejects (after the others settle). */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  f: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length && errors.length === 0) {
      const item = items[next++]!;
      try {
        await f(item);
      } catch (e) {
        errors.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}
