import { ConcurrencyError, conflict, invalid, notFound } from "../../errors.js";
import type { ReviewDefinition, ReviewDefinitionInput } from "../../model/reviews.js";
import { requireEnvironmentAdmin } from "../adminGate.js";
import { isAppAuditor, type Capabilities, type Caller } from "../capabilities.js";
import { continuationOf, page, topOf, type Page, type PageQuery } from "../reads.js";

const dayMs = 86_400_000;

type Deps = Pick<Capabilities, "repo" | "reviews" | "clock">;

/** Who reads reviews: environment admins, and apps with Sharing.Admin or Sharing.Audit. */
export const reviewReaderGate = {
  refusal: "access reviews are for environment admins and apps with the Sharing.Audit or Sharing.Admin role",
  alsoApps: isAppAuditor,
};

/** `iso` plus one period, months clamped to the month's last day (31 January + 1 month = 28/29 February). */
export function nextPeriod(iso: string, every: "week" | "month" | "quarter"): string {
  const d = new Date(iso);
  if (every === "week") return new Date(d.getTime() + 7 * dayMs).toISOString();
  const months = every === "month" ? 1 : 3;
  const target = new Date(d.getTime());
  target.setUTCDate(1);
  target.setUTCMonth(target.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(d.getUTCDate(), lastDay));
  return target.toISOString();
}

/**
 * `PUT .../reviews/{reviewId}` (environment admins, Sharing.Admin): creates (201) or replaces (200)
 * a definition. Fallback reviewers must be members of the environment (400 naming each one that is
 * not). A recurring definition keeps its `nextStartAt` while its recurrence stays the same, and gets
 * one period from now otherwise; the `recur` row is written before the definition and the old one
 * removed after, so the timer never misses a start (a stale `recur` row names a `nextStartAt` the
 * definition no longer holds, and the timer drops it). Costs: the gate's reads, one point read per
 * fallback reviewer (in parallel), the definition's read and write, and up to two `recur` writes.
 */
export async function putReviewDefinition(
  deps: Deps,
  caller: Caller,
  envId: string,
  reviewId: string,
  input: ReviewDefinitionInput,
): Promise<{ created: boolean; definition: ReviewDefinition }> {
  await requireEnvironmentAdmin(deps, caller, envId);
  const fallback = input.fallbackReviewerIds ?? [];
  const members = await Promise.all(fallback.map((id) => deps.repo.getMembership(envId, id)));
  const errors = fallback.flatMap((id, i) =>
    members[i] ? [] : [{ field: `body.fallbackReviewerIds[${i}]`, message: `${id} is not a member of ${envId}` }],
  );
  if (errors.length > 0) throw invalid("fallback reviewers must be members of the environment", errors);

  for (let tries = 0; tries < 5; tries++) {
    const now = deps.clock();
    const previous = await deps.reviews.getDefinition(envId, reviewId);
    const before = previous?.definition;
    const nextStartAt = input.recurrence
      ? before?.recurrence?.every === input.recurrence.every && before.nextStartAt
        ? before.nextStartAt
        : nextPeriod(now.toISOString(), input.recurrence.every)
      : undefined;
    const definition: ReviewDefinition = {
      ...input,
      reviewId,
      envId,
      createdAt: before?.createdAt ?? now.toISOString(),
      updatedAt: now.toISOString(),
      updatedBy: caller.principalId,
      ...(nextStartAt ? { nextStartAt } : {}),
      ...(before?.lastInstanceId ? { lastInstanceId: before.lastInstanceId } : {}),
    };
    if (nextStartAt) await deps.reviews.putRecur({ envId, reviewId, nextStartAt });
    try {
      await deps.reviews.putDefinition(definition, previous?.etag);
    } catch (e) {
      if (e instanceof ConcurrencyError) continue;
      throw e;
    }
    if (before?.nextStartAt && before.nextStartAt !== nextStartAt)
      await deps.reviews.deleteRecur({ envId, reviewId, nextStartAt: before.nextStartAt });
    return { created: !previous, definition };
  }
  throw conflict(`review ${reviewId} kept changing while this request ran; try again`);
}

/** `GET .../reviews/{reviewId}`: the definition and its newest instance's id (two reads in one round trip). */
export async function getReviewDefinition(
  deps: Deps,
  caller: Caller,
  envId: string,
  reviewId: string,
): Promise<ReviewDefinition & { latestInstanceId?: string }> {
  await requireEnvironmentAdmin(deps, caller, envId, reviewReaderGate);
  const [read, latest] = await Promise.all([
    deps.reviews.getDefinition(envId, reviewId),
    deps.reviews.instancesPage(envId, reviewId, undefined, 1),
  ]);
  if (!read) throw notFound(`review ${reviewId} was not found in environment ${envId}`);
  const latestInstanceId = latest.instances[0]?.instanceId;
  return { ...read.definition, ...(latestInstanceId ? { latestInstanceId } : {}) };
}

/** `GET .../reviews`: the environment's definitions by id, paged (one range query a page). */
export async function listReviewDefinitions(
  deps: Deps,
  caller: Caller,
  envId: string,
  q: PageQuery,
): Promise<Page<ReviewDefinition>> {
  await requireEnvironmentAdmin(deps, caller, envId, reviewReaderGate);
  const p = await deps.reviews.definitionsPage(envId, continuationOf(q, "reviews"), topOf(q));
  return page(p.definitions, "reviews", p.continuation);
}
