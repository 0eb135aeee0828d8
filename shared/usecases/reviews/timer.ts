import type { Capabilities } from "../capabilities.js";
import { leaseHeld } from "../catalogWalk.js";
import { advanceReview } from "./runner.js";
import { startDueReviews } from "./start.js";

type Deps = Pick<
  Capabilities,
  "repo" | "reviews" | "audits" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "clock" | "newId"
>;

export interface ReviewTimerRun {
  started: number;
  advanced: number;
  failed: number;
}

/**
 * The `reviewRunner` timer (docs/reviews.md, "Lifecycle"): the recurring starts due, then each
 * instance of the `open` partition whose lease is free, advanced within what is left of the budget
 * (each instance stops after the page during which the budget ran out; the next run continues). An
 * instance that fails is logged and left for the next run; the others go on.
 */
export async function runReviewTimer(deps: Deps, options: { budgetMs: number }): Promise<ReviewTimerRun> {
  const deadline = Date.now() + options.budgetMs;
  const left = () => deadline - Date.now();
  const result: ReviewTimerRun = { started: 0, advanced: 0, failed: 0 };
  result.started = await startDueReviews(deps, { budgetMs: options.budgetMs / 4 });
  let continuation: string | undefined;
  do {
    const page = await deps.reviews.openPage(continuation);
    for (const o of page.rows) {
      if (left() <= 0) return result;
      try {
        const got = await deps.reviews.getRun(o.envId, o.reviewId, o.instanceId);
        // An open row written by a start whose run row isn't there (yet, or ever: a crash between the two) is skipped.
        if (!got || (leaseHeld(got.run, deps.clock()) && got.run.phase !== "done")) continue;
        await advanceReview(deps, o.envId, o.reviewId, o.instanceId, { budgetMs: left() });
        result.advanced++;
      } catch (e) {
        result.failed++;
        deps.log(
          `review ${o.envId}/${o.reviewId}/${o.instanceId}: ${e instanceof Error ? e.message : String(e)}; left for the next run`,
        );
      }
    }
    continuation = page.continuation;
  } while (continuation);
  return result;
}
