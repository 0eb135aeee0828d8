import { ConcurrencyError } from "../../errors.js";
import type { ReviewDefinition, ReviewInstance } from "../../model/reviews.js";
import type { RecurRow } from "../../store/reviewRows.js";
import { systemActor, type Capabilities } from "../capabilities.js";
import { nextPeriod } from "./definitions.js";
import { advanceReview } from "./runner.js";

type Deps = Pick<
  Capabilities,
  "repo" | "reviews" | "audits" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "clock" | "newId"
>;

const dayMs = 86_400_000;

/**
 * A new instance's run row: phase `snapshot`, counts zero, ending `durationDays` after `now` and
 * reminding halfway. The definition is copied in, so later edits apply to later instances.
 */
export function newReviewInstance(
  definition: ReviewDefinition,
  instanceId: string,
  trigger: ReviewInstance["trigger"],
  startedBy: string,
  now: Date,
): ReviewInstance {
  const span = definition.durationDays * dayMs;
  return {
    envId: definition.envId,
    reviewId: definition.reviewId,
    instanceId,
    status: "inProgress",
    phase: "snapshot",
    trigger,
    startedBy,
    createdAt: now.toISOString(),
    endsAt: new Date(now.getTime() + span).toISOString(),
    remindAt: new Date(now.getTime() + span / 2).toISOString(),
    definition,
    counts: { items: 0, approve: 0, deny: 0, dontKnow: 0, undecided: 0 },
    applyCounts: { applied: 0, alreadyGone: 0, failed: 0 },
  };
}

export interface StartRequest {
  trigger: ReviewInstance["trigger"];
  /** The caller's id, or `system` for the timer's starts. */
  startedBy: string;
  /** `deps.newId()` for a request; `scheduleInstanceId(nextStartAt)` for the timer's. */
  instanceId: string;
}

/**
 * Starts an instance of a definition (docs/reviews.md, "Lifecycle"): the `open` row, then the run
 * row (phase `snapshot`, ending `durationDays` from now, reminding halfway), then, with a budget, the
 * snapshot and what follows as far as the budget allows (the runner timer continues). Starting the
 * same instance id again writes nothing new (`created: false`) and only advances it.
 */
export async function startInstance(
  deps: Deps,
  definition: ReviewDefinition,
  start: StartRequest,
  options: { budgetMs?: number } = {},
): Promise<{ instance: ReviewInstance; created: boolean }> {
  const run = newReviewInstance(definition, start.instanceId, start.trigger, start.startedBy, deps.clock());
  const created = await deps.reviews.createInstance(run);
  const budgetMs = options.budgetMs ?? 0;
  let advanced: ReviewInstance | undefined;
  try {
    if (budgetMs > 0)
      advanced = await advanceReview(deps, definition.envId, definition.reviewId, start.instanceId, { budgetMs });
  } catch (e) {
    // The run row keeps its phase and cursor; the runner timer continues from them.
    deps.log(
      `review ${definition.reviewId} instance ${start.instanceId} of ${definition.envId} stopped and will be continued: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (advanced) return { instance: advanced, created };
  const stored = await deps.reviews.getRun(definition.envId, definition.reviewId, start.instanceId);
  return { instance: stored?.run ?? run, created };
}

/** A scheduled start's instance id, from its due time: `r{yyyymmddhhmm}`, so a timer run twice starts one. */
export const scheduleInstanceId = (nextStartAt: string) =>
  `r${new Date(nextStartAt).toISOString().replace(/[-:T]/g, "").slice(0, 12)}`;

/**
 * The runner timer's recurring starts: the `recur` rows due by now (one range, a page at a time).
 * For each, the instance of that due time (its id from the time, so a timer run twice or a crash
 * starts one), the next start's row, the definition's `nextStartAt`, then the old row removed: a
 * stop anywhere repeats the steps, each idempotent. A row whose definition no longer names it
 * (edited, deleted, no longer recurring) is dropped. A start missed by more than a period (the app
 * was down) moves to the next time still ahead, not a burst of catch-up instances.
 */
export async function startDueReviews(deps: Deps, options: { budgetMs?: number } = {}): Promise<number> {
  const started = Date.now();
  const now = deps.clock();
  let continuation: string | undefined;
  let count = 0;
  do {
    const page = await deps.reviews.dueRecurPage(now, continuation);
    for (const row of page.rows) {
      if (options.budgetMs !== undefined && Date.now() - started > options.budgetMs) return count;
      try {
        if (await startDue(deps, row, now)) count++;
      } catch (e) {
        deps.log(
          `recurring review ${row.envId}/${row.reviewId} due ${row.nextStartAt}: ${e instanceof Error ? e.message : String(e)}; kept for the next run`,
        );
      }
    }
    continuation = page.continuation;
  } while (continuation);
  return count;
}

async function startDue(deps: Deps, row: RecurRow, now: Date): Promise<boolean> {
  const got = await deps.reviews.getDefinition(row.envId, row.reviewId);
  const def = got?.definition;
  if (!got || !def?.recurrence || def.nextStartAt !== row.nextStartAt) {
    await deps.reviews.deleteRecur(row);
    return false;
  }
  const instanceId = scheduleInstanceId(row.nextStartAt);
  const { created } = await startInstance(deps, def, { trigger: "schedule", startedBy: systemActor, instanceId });
  let next = nextPeriod(row.nextStartAt, def.recurrence.every);
  while (new Date(next) <= now) next = nextPeriod(next, def.recurrence.every);
  await deps.reviews.putRecur({ envId: row.envId, reviewId: row.reviewId, nextStartAt: next });
  // The definition moves on to the next start, under its ETag. An edit meanwhile that kept the
  // recurrence kept this due time too: read again and move it on; one that changed it rules.
  let current: typeof got | undefined = got;
  for (let tries = 0; current?.definition.nextStartAt === row.nextStartAt; tries++) {
    try {
      await deps.reviews.putDefinition(
        { ...current.definition, nextStartAt: next, lastInstanceId: instanceId },
        current.etag,
      );
      break;
    } catch (e) {
      if (!(e instanceof ConcurrencyError) || tries >= 5) throw e;
      current = await deps.reviews.getDefinition(row.envId, row.reviewId);
    }
  }
  await deps.reviews.deleteRecur(row);
  return created;
}
