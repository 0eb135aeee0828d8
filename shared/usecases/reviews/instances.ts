import { forbidden, notFound } from "../../errors.js";
import type { ReviewerKey, ReviewInstance, ReviewItem, ReviewItemView } from "../../model/reviews.js";
import { actsAsEnvironmentAdmin, hasActiveMembership, requireEnvironmentAdmin } from "../adminGate.js";
import { isAppAdmin, isAppAuditor, type Capabilities, type Caller } from "../capabilities.js";
import { continuationOf, page, topOf, type Page, type PageQuery } from "../reads.js";
import { decideItems, mayReviewAs, reviewerItemsPage, type DecisionInput, type DecisionsResult } from "./decisions.js";
import { reviewReaderGate } from "./definitions.js";
import { startInstance } from "./start.js";

type Deps = Pick<
  Capabilities,
  "repo" | "reviews" | "audits" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "clock" | "log" | "newId"
>;

/**
 * `POST .../reviews/{reviewId}/instances` (environment admins, Sharing.Admin): writes the `open` row
 * and the run row (`ReviewRows.createInstance`), then advances it for `budgetMs` in the request (the
 * snapshot, then the reviewers' emails), as `POST .../audits` does; the runner timer continues a larger
 * one (`startInstance`, `start.ts`). 404 for an unknown review.
 */
export async function startReviewInstance(
  deps: Deps,
  caller: Caller,
  envId: string,
  reviewId: string,
  options: { budgetMs: number },
): Promise<{ instanceId: string }> {
  await requireEnvironmentAdmin(deps, caller, envId);
  const read = await deps.reviews.getDefinition(envId, reviewId);
  if (!read) throw notFound(`review ${reviewId} was not found in environment ${envId}`);
  const instanceId = deps.newId();
  // The same start as the timer's: the snapshot, then the reviewers' emails, as far as the budget goes.
  await startInstance(
    deps,
    read.definition,
    { trigger: "request", startedBy: caller.principalId, instanceId },
    { budgetMs: options.budgetMs },
  );
  return { instanceId };
}

async function requireRun(deps: Pick<Deps, "reviews">, envId: string, reviewId: string, instanceId: string) {
  const read = await deps.reviews.getRun(envId, reviewId, instanceId);
  if (!read) throw notFound(`review instance ${instanceId} of review ${reviewId} was not found`);
  return read.run;
}

/** `GET .../instances/{instanceId}` (environment admins, Sharing.Admin, Sharing.Audit): one point read after the gate. */
export async function getReviewInstance(
  deps: Deps,
  caller: Caller,
  envId: string,
  reviewId: string,
  instanceId: string,
): Promise<ReviewInstance> {
  await requireEnvironmentAdmin(deps, caller, envId, reviewReaderGate);
  return requireRun(deps, envId, reviewId, instanceId);
}

export type ReviewItemOut = Omit<ReviewItem, "reviewers"> & { reviewers?: ReviewItem["reviewers"] };

/**
 * `GET .../instances/{instanceId}/items`: admins and Sharing.Admin/Audit apps see every item (by item
 * id), or one reviewer key's with `reviewerId`; any other member sees the items of a key they may
 * decide under (`mayReviewAs`; their own `u.{id}` by default), else 403; a non-member 404. One or two
 * range queries a page after the checks.
 */
export async function listReviewItems(
  deps: Deps,
  caller: Caller,
  envId: string,
  reviewId: string,
  instanceId: string,
  q: PageQuery & { reviewerId?: ReviewerKey | undefined },
): Promise<Page<ReviewItemOut>> {
  const app = isAppAdmin(caller) || isAppAuditor(caller);
  const [environment, ctx] = await Promise.all([
    deps.repo.getEnvironment(envId),
    app ? Promise.resolve(undefined) : deps.repo.principalContext(envId, caller.principalId),
  ]);
  if (!environment || (!app && !hasActiveMembership(ctx))) throw notFound(`environment ${envId} was not found`);
  const run = await requireRun(deps, envId, reviewId, instanceId);
  const admin = app || actsAsEnvironmentAdmin(caller, ctx);
  const key = q.reviewerId ?? (admin ? undefined : (`u.${caller.principalId}` as ReviewerKey));
  if (key === undefined) {
    const p = await deps.reviews.itemsPage(envId, reviewId, instanceId, continuationOf(q, "reviewItems"), topOf(q));
    return page(p.items, "reviewItems", p.continuation);
  }
  if (!admin) {
    const may = await mayReviewAs(deps, envId, run, key, caller.principalId);
    if (!may.ok) throw forbidden(`you do not review as ${key} in this review instance`);
  }
  const listing = "reviewerItems";
  const p = await reviewerItemsPage(deps, envId, reviewId, instanceId, key, continuationOf(q, listing), topOf(q));
  return page<ReviewItemView>(p.items, listing, p.continuation);
}

/**
 * `POST .../instances/{instanceId}/decisions`: a person's decisions (`decideItems`, via `api`). An
 * app that is no member decides nothing (items are decided by the people who review them: 403); a
 * user who is no member gets 404, as everywhere in the environment.
 */
export async function postReviewDecisions(
  deps: Deps,
  caller: Caller,
  envId: string,
  reviewId: string,
  instanceId: string,
  decisions: readonly DecisionInput[],
): Promise<DecisionsResult> {
  const [environment, membership] = await Promise.all([
    deps.repo.getEnvironment(envId),
    deps.repo.getMembership(envId, caller.principalId),
  ]);
  if (environment && !hasActiveMembership({ membership }) && caller.appRoles.length > 0)
    throw forbidden("review items are decided by the people who review them, not by an app");
  if (!environment || !hasActiveMembership({ membership })) throw notFound(`environment ${envId} was not found`);
  return decideItems(deps, { userId: caller.principalId }, envId, reviewId, instanceId, decisions, "api");
}
