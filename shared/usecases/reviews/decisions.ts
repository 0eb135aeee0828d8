import { ConcurrencyError, conflict, forbidden, invalid, notFound, type FieldError } from "../../errors.js";
import type {
  ReviewCounts,
  ReviewDecision,
  ReviewerKey,
  ReviewInstance,
  ReviewItem,
  ReviewItemView,
} from "../../model/reviews.js";
import { decisionOpCount, maxTransactionOps, type ItemChange } from "../../store/reviewRows.js";
import { hasActiveMembership, isEnabledEnvironmentAdmin } from "../adminGate.js";
import { systemActor, type Capabilities } from "../capabilities.js";

type Deps = Pick<Capabilities, "repo" | "reviews" | "clock">;

/** Who decides: a person (the API's caller, the page's link holder), or `system` for the default decision. */
export interface Decider {
  userId: string;
}

/** Where a decision came from: the API, the reviewer's page, or the runner's default at the end. */
export type DecisionVia = "api" | "page" | "default";

export interface DecisionInput {
  itemId: string;
  decision: ReviewDecision;
  justification?: string | undefined;
}

export interface DecisionsResult {
  decided: number;
  items: ReviewItem[];
}

/** At most this many decisions in one call (api.md: up to 100). */
export const maxDecisionsPerCall = 100;

/**
 * Whether the instance takes reviewers' decisions now: its snapshot is done (phase `notify`, `open`
 * or `remind`: a reviewer may decide before their email is queued) and it has not ended.
 */
export function openForDecisions(run: ReviewInstance, now: Date): boolean {
  return (run.phase === "notify" || run.phase === "open" || run.phase === "remind") && now < new Date(run.endsAt);
}

/**
 * Whether `userId` may decide under `reviewerKey` in this instance, checked against the directory
 * now: `u.X` is user X; `fallback` a user the instance's definition names as fallback reviewer;
 * `admins` an enabled SystemAdministrator of the environment. In every case the person must be an
 * enabled user with an active membership (a disabled user does nothing, sharing-rules.md). Two point
 * reads (the profile and the membership), in one round trip.
 */
export async function mayReviewAs(
  deps: Pick<Capabilities, "repo">,
  envId: string,
  instance: ReviewInstance,
  reviewerKey: ReviewerKey,
  userId: string,
): Promise<{ ok: true } | { ok: false; why: string }> {
  const named =
    reviewerKey === "admins" ||
    (reviewerKey === "fallback"
      ? (instance.definition.fallbackReviewerIds ?? []).includes(userId)
      : reviewerKey === `u.${userId}`);
  if (!named) return { ok: false, why: `${userId} does not review as ${reviewerKey} in this instance` };
  const [user, membership] = await Promise.all([deps.repo.getUser(userId), deps.repo.getMembership(envId, userId)]);
  if (user?.enabled !== true || !hasActiveMembership({ membership }))
    return { ok: false, why: `${userId} is no longer an enabled member of environment ${envId}` };
  if (reviewerKey === "admins" && !isEnabledEnvironmentAdmin({ user, membership }))
    return { ok: false, why: `${userId} is no longer a SystemAdministrator of environment ${envId}` };
  return { ok: true };
}

/** The counts after one item's decision changes from `before` to `after`. */
function recount(counts: ReviewCounts, before: ReviewDecision | undefined, after: ReviewDecision | undefined) {
  const next = { ...counts };
  if (before) next[before] = Math.max(0, next[before] - 1);
  else next.undecided = Math.max(0, next.undecided - 1);
  if (after) next[after] += 1;
  else next.undecided += 1;
  return next;
}

/** Groups items into transactions of at most 100 operations, the run row counted once in each. */
function transactionGroups(items: readonly ReviewItem[]): ReviewItem[][] {
  const groups: ReviewItem[][] = [];
  let group: ReviewItem[] = [];
  let ops = 1;
  for (const item of items) {
    const n = decisionOpCount(item);
    if (group.length > 0 && ops + n > maxTransactionOps) {
      groups.push(group);
      group = [];
      ops = 1;
    }
    group.push(item);
    ops += n;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

const maxTries = 6;

/**
 * Records decisions on items of one instance (api.md `POST .../decisions`; the reviewer's page; the
 * runner's default decisions with `via: "default"`). Everything is checked before anything is
 * written, so a refused request writes nothing: 400 for a repeated item or a justification the
 * definition requires and the decision lacks (naming `decisions[i]…`), 404 for an unknown instance or
 * item, 409 when the instance is not open for decisions, 403 when the decider may decide none of an
 * item's reviewer keys. Then each transaction (items whose operations fit in 100, and the run row's
 * counts) is written under the ETags read, retried after a re-read on a concurrent write, 409 after
 * that. Default decisions (`via: "default"`, decider `system`) need phase `complete`, decide only
 * items still undecided, and mark them `defaulted`.
 *
 * Costs: one point read of the run row, one per item (in parallel), two per reviewer key the decider
 * uses (once per call), then one transaction per group of items (one for items of up to 48 owners
 * together); a retry re-reads the run row and its group's items.
 */
export async function decideItems(
  deps: Deps,
  decider: Decider,
  envId: string,
  reviewId: string,
  instanceId: string,
  decisions: readonly DecisionInput[],
  via: DecisionVia,
): Promise<DecisionsResult> {
  if (decisions.length > maxDecisionsPerCall)
    throw invalid(`at most ${maxDecisionsPerCall} decisions a request`, [
      { field: "body.decisions", message: `at most ${maxDecisionsPerCall} items` },
    ]);
  const isDefault = via === "default";
  const read = await deps.reviews.getRun(envId, reviewId, instanceId);
  if (!read) throw notFound(`review instance ${instanceId} of review ${reviewId} was not found`);
  const requireOpen = (run: ReviewInstance) => {
    if (isDefault ? run.phase !== "complete" : !openForDecisions(run, deps.clock()))
      throw conflict(
        isDefault
          ? `review instance ${instanceId} is not completing (phase ${run.phase})`
          : run.phase === "snapshot"
            ? `review instance ${instanceId} is not open for decisions yet: its items are still being collected`
            : `review instance ${instanceId} is not open for decisions: it ended at ${run.endsAt}`,
      );
  };
  requireOpen(read.run);

  const errors: FieldError[] = [];
  const seen = new Set<string>();
  decisions.forEach((d, i) => {
    if (seen.has(d.itemId))
      errors.push({ field: `body.decisions[${i}].itemId`, message: "this item is decided twice" });
    seen.add(d.itemId);
    if (!isDefault && read.run.definition.justificationRequired === true && !d.justification?.trim())
      errors.push({ field: `body.decisions[${i}].justification`, message: "this review requires a justification" });
  });
  if (errors.length > 0) throw invalid("some decisions are not valid", errors);

  const found = await Promise.all(decisions.map((d) => deps.reviews.getItem(envId, reviewId, instanceId, d.itemId)));
  const missing = decisions.filter((_, i) => !found[i]);
  if (missing.length > 0)
    throw notFound(`no item ${missing.map((d) => d.itemId).join(", ")} in review instance ${instanceId}`);

  if (!isDefault) {
    // Each key the decider might use is checked once per call, whatever the number of items under it.
    const verdicts = new Map<ReviewerKey, Promise<{ ok: boolean; why?: string }>>();
    const may = (key: ReviewerKey) => {
      let v = verdicts.get(key);
      if (!v) verdicts.set(key, (v = mayReviewAs(deps, envId, read.run, key, decider.userId)));
      return v;
    };
    for (const [i, f] of found.entries()) {
      const item = f!.item;
      // Keys naming the decider first: they decide without a directory read for the others.
      const keys = [...item.reviewers].sort(
        (a, b) => Number(b === `u.${decider.userId}`) - Number(a === `u.${decider.userId}`),
      );
      let allowed = false;
      for (const key of keys) {
        // Keys not naming the decider answer without a read; each other key is read once a call.
        if ((await may(key)).ok) {
          allowed = true;
          break;
        }
      }
      if (!allowed)
        throw forbidden(
          `${decider.userId} does not review item ${decisions[i]!.itemId} of review instance ${instanceId}`,
        );
    }
  }

  const byId = new Map(decisions.map((d) => [d.itemId, d]));
  const now = deps.clock().toISOString();
  const decide = (item: ReviewItem): ReviewItem => {
    const d = byId.get(item.itemId)!;
    const { justification: _j, defaulted: _d, ...rest } = item;
    const justification = d.justification?.trim();
    return {
      ...rest,
      decision: d.decision,
      decidedBy: isDefault ? systemActor : decider.userId,
      decidedAt: now,
      ...(justification ? { justification } : {}),
      ...(isDefault ? { defaulted: true } : {}),
    };
  };

  const written: ReviewItem[] = [];
  let run = read;
  const byItem = new Map(found.map((f) => [f!.item.itemId, f!]));
  for (const group of transactionGroups(found.map((f) => f!.item))) {
    let current = group.map((g) => byItem.get(g.itemId)!);
    for (let tries = 0; ; tries++) {
      const changes: ItemChange[] = current
        // A default decision never overrides a reviewer's: it only fills in undecided items.
        .filter((c) => !(isDefault && c.item.decision))
        .map((c) => ({ before: c.item, etag: c.etag, after: decide(c.item) }));
      if (changes.length === 0) break;
      let counts = run.run.counts;
      for (const c of changes) counts = recount(counts, c.before.decision, c.after.decision);
      const next = { ...run.run, counts };
      try {
        // The next group goes on under the ETag this transaction left.
        run = { run: next, etag: await deps.reviews.decide(next, run.etag, changes) };
        written.push(...changes.map((c) => c.after));
        break;
      } catch (e) {
        if (!(e instanceof ConcurrencyError)) throw e;
        if (tries >= maxTries)
          throw conflict(`review instance ${instanceId} kept changing while these decisions were saved; try again`);
        // A random pause that doubles, so concurrent reviewers of one instance spread out.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(250, 10 * 2 ** tries)));
        const [again, reread] = await Promise.all([
          deps.reviews.getRun(envId, reviewId, instanceId),
          Promise.all(current.map((c) => deps.reviews.getItem(envId, reviewId, instanceId, c.item.itemId))),
        ]);
        if (!again) throw notFound(`review instance ${instanceId} of review ${reviewId} was not found`);
        requireOpen(again.run);
        run = again;
        current = reread.map((r, i) => r ?? current[i]!);
      }
    }
  }
  return { decided: written.length, items: written };
}

/**
 * One page of a reviewer key's items, undecided first, then decided (one or two range queries). The
 * caller has checked that whoever asks may see them (`mayReviewAs`, or an admin).
 */
export async function reviewerItemsPage(
  deps: Pick<Capabilities, "reviews">,
  envId: string,
  reviewId: string,
  instanceId: string,
  reviewerKey: ReviewerKey,
  continuation: string | undefined,
  top: number,
): Promise<{ items: ReviewItemView[]; continuation: string | undefined }> {
  return deps.reviews.reviewerPage(envId, reviewId, instanceId, reviewerKey, continuation, top);
}
