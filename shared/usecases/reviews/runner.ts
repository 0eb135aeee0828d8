import { createHash } from "node:crypto";
import { ConcurrencyError, conflict, DomainError, notFound, StorageLimitError } from "../../errors.js";
import type { EmailJob } from "../../model/emailJobs.js";
import type { ChangeEntry, TenantUser } from "../../model/records.js";
import type { ApplyCounts, ReviewerKey, ReviewInstance, ReviewItem } from "../../model/reviews.js";
import { reviewKeys } from "../../store/reviewRows.js";
import { requireEnvironmentAdmin } from "../adminGate.js";
import { systemActor, type Caller, type Capabilities } from "../capabilities.js";
import { forEachLimit, Lease, leaseHeld } from "../catalogWalk.js";
import { changeResource, outboxItems } from "../mutate.js";
import { expiriesOf, principalKey, relayNow, relayPartition, rolesOf } from "../relay.js";
import { manageAction } from "../sharing.js";
import { decideItems, maxDecisionsPerCall } from "./decisions.js";
import { runSnapshot } from "./snapshot.js";

type Deps = Pick<
  Capabilities,
  "repo" | "reviews" | "audits" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "clock" | "newId"
>;

export interface AdvanceOptions {
  /** Stop after the page during which this much time has passed; the runner timer continues later. */
  budgetMs?: number;
  /** Rows per page of the walks (reviewer keys, items). */
  pageSize?: number;
}

/** Items revoked at once within a page (each its own resource's transaction). */
const applyConcurrency = 8;

export const instancePartition = (run: Pick<ReviewInstance, "envId" | "reviewId" | "instanceId">) =>
  reviewKeys.instancePk(run.envId, run.reviewId, run.instanceId);

/**
 * Does the next phase(s) of an instance after its snapshot (docs/reviews.md, "Lifecycle"), under a
 * lease on its run row, until it waits (open, before its reminder or end; completed without
 * autoApply), is done, or the budget is used. Every walk keeps its cursor on the run row, so a stop
 * anywhere repeats at most one page; what a page does is idempotent (deterministic email operation
 * ids, change ids and item ids), so a repeated page sends and writes nothing twice. Returns the run as
 * it was left, or undefined when there is no such instance or another runner holds it.
 */
export async function advanceReview(
  deps: Deps,
  envId: string,
  reviewId: string,
  instanceId: string,
  options: AdvanceOptions = {},
): Promise<ReviewInstance | undefined> {
  const budgetMs = options.budgetMs ?? 50_000;
  const pageSize = options.pageSize ?? 1000;
  const started = Date.now();
  let got = await deps.reviews.getRun(envId, reviewId, instanceId);
  if (!got) return undefined;
  if (got.run.phase === "snapshot") {
    await runSnapshot(deps, envId, reviewId, instanceId, { budgetMs });
    got = await deps.reviews.getRun(envId, reviewId, instanceId);
    if (!got || got.run.phase === "snapshot") return got?.run;
  }
  if (got.run.phase === "done") {
    // What a stop right after the finish left: its outbox (one range read), then the open row.
    await relayPartition(deps, "reviews", instancePartition(got.run));
    await deps.reviews.deleteOpen({ envId, reviewId, instanceId });
    return got.run;
  }
  if (leaseHeld(got.run, deps.clock()) || waiting(got.run, deps.clock())) return got.run;
  let lease: Lease<ReviewInstance>;
  try {
    lease = await Lease.take<ReviewInstance>(
      got.run,
      got.etag,
      (r, e, outbox) => deps.reviews.putRun(r, e, outbox),
      deps,
      Math.max(1, budgetMs - (Date.now() - started)),
    );
  } catch (e) {
    if (e instanceof ConcurrencyError) return undefined; // another runner took it first
    throw e;
  }
  try {
    const runner = new PhaseRunner(deps, lease, pageSize, started + budgetMs);
    return await runner.run();
  } catch (e) {
    if (e instanceof ConcurrencyError) return lease.row; // our lease ran out and another runner took over
    const message = e instanceof Error ? e.message : String(e);
    deps.log(`review ${reviewId} instance ${instanceId} of ${envId}: ${message}; the runner tries again`);
    // The next timer run tries again at once; the cursor on the row is where it resumes.
    await lease.release({ ...lease.row, error: message.slice(0, 1000) }).catch(() => undefined);
    throw e;
  }
}

/**
 * An open instance before its reminder (or after it) and before its end has nothing to do: no
 * lease is taken, so no write (the timer reads every open instance each minute).
 */
function waiting(run: ReviewInstance, now: Date): boolean {
  return (
    run.phase === "open" && now < new Date(run.endsAt) && (run.remindedAt !== undefined || now < new Date(run.remindAt))
  );
}

class PhaseRunner {
  private admins: TenantUser[] | undefined;

  constructor(
    private readonly deps: Deps,
    private lease: Lease<ReviewInstance>,
    private readonly pageSize: number,
    /** `Date.now()` by which this pass stops. */
    private readonly deadline: number,
  ) {}

  private get row() {
    return this.lease.row;
  }

  /** Moves the run to its next phase, which starts its walk from the beginning (no cursor). */
  private toPhase(phase: ReviewInstance["phase"], fields: Partial<ReviewInstance> = {}): Promise<void> {
    return this.lease.save({ ...this.row, ...fields, phase, cursor: undefined });
  }

  async run(): Promise<ReviewInstance> {
    for (;;) {
      const run = this.row;
      const now = this.deps.clock();
      switch (run.phase) {
        case "notify":
          if (await this.walkReviewers("start")) return this.stop();
          await this.toPhase("open", { notifiedAt: now.toISOString() });
          break;
        case "open":
          if (now >= new Date(run.endsAt)) await this.toPhase("complete");
          else if (now >= new Date(run.remindAt) && !run.remindedAt) await this.toPhase("remind");
          else return this.stop(); // nothing to do before the reminder or the end
          break;
        case "remind":
          if (await this.walkReviewers("reminder")) return this.stop();
          await this.toPhase("open", { remindedAt: now.toISOString() });
          break;
        case "complete":
          if (await this.walkDefaults()) return this.stop();
          await this.toPhase(this.row.definition.autoApply ? "apply" : "finish", {
            status: "completed",
            completedAt: now.toISOString(),
          });
          break;
        case "apply":
          if (await this.walkApply()) return this.stop();
          await this.toPhase("finish", { status: "applied", appliedAt: now.toISOString() });
          break;
        case "finish":
          return this.finish();
        case "snapshot":
        case "done":
          // Snapshot is the core's walk (advanceReview runs it before taking the lease); done is handled there too.
          return this.stop();
      }
      if (this.lease.outOfTime()) return this.stop();
    }
  }

  private async stop(): Promise<ReviewInstance> {
    await this.lease.release();
    return this.row;
  }

  /**
   * The finish, in one transaction on the instance partition: the run row `done` with the outbox
   * items (the `review.completed` entry and the admins' summary) the first time an instance
   * finishes; a later apply (POST .../apply after a completion without autoApply) ends `done` with
   * neither. Relayed at once; a stop before leaves them for the runner (the `open` row stays until
   * they are out).
   */
  private async finish(): Promise<ReviewInstance> {
    const run = this.row;
    const now = this.deps.clock().toISOString();
    const first = !run.finishedAt;
    const done: ReviewInstance = { ...run, phase: "done", cursor: undefined, finishedAt: run.finishedAt ?? now };
    const outbox = first
      ? outboxItems(this.deps, [
          { type: "log", envId: run.envId, entries: [completedEntry(done)] },
          {
            type: "email",
            jobs: [{ kind: "reviewSummary", envId: run.envId, reviewId: run.reviewId, instanceId: run.instanceId }],
          },
        ])
      : [];
    await this.lease.release(done, outbox);
    const relayed = outbox.length === 0 || (await relayNow(this.deps, "reviews", instancePartition(done), outbox));
    if (relayed) await this.deps.reviews.deleteOpen(done);
    return this.row;
  }

  /** The reviewers' emails of one step, a page of `reviewer|` rows at a time. True when the budget ran out first. */
  private async walkReviewers(step: "start" | "reminder"): Promise<boolean> {
    const { envId, reviewId, instanceId } = this.row;
    for (;;) {
      const page = await this.deps.reviews.reviewersPage(envId, reviewId, instanceId, this.row.cursor, this.pageSize);
      const jobs: EmailJob[] = [];
      await forEachLimit(page.reviewerKeys, 8, async (key) => {
        if (step === "reminder" && !(await this.deps.reviews.hasUndecided(envId, reviewId, instanceId, key))) return;
        for (const userId of await this.peopleOf(key))
          jobs.push({ kind: "reviewRequest", envId, reviewId, instanceId, reviewerKey: key, userId, step });
      });
      // Queued before the cursor moves past them: a stop in between queues them again, and the
      // mailer drops the repeats by their operation ids.
      await forEachLimit(jobs, 8, (job) => this.deps.emailQueue.send(job));
      if (!page.continuation) return false;
      await this.lease.save({ ...this.row, cursor: page.continuation });
      if (this.lease.outOfTime()) return true;
    }
  }

  /** Who is emailed under a reviewer key: the owner, each fallback reviewer, or each enabled admin. */
  private async peopleOf(key: ReviewerKey): Promise<string[]> {
    if (key.startsWith("u.")) return [key.slice(2)];
    if (key === "fallback") return this.row.definition.fallbackReviewerIds ?? [];
    this.admins ??= await enabledAdminsOf(this.deps, this.row.envId);
    return this.admins.map((a) => a.userId);
  }

  /**
   * The default decision of every item still undecided at the end, through the decision use case
   * (`via: "default"`), a page of items at a time. The decisions rewrite the run row (its counts), so
   * after each page the lease is taken again on the row as it now is.
   */
  private async walkDefaults(): Promise<boolean> {
    const run = this.row;
    const decision = run.definition.defaultDecision ?? "none";
    if (decision === "none") {
      await this.lease.save({ ...run, defaulted: 0 });
      return false;
    }
    for (;;) {
      const page = await this.itemsAtCursor();
      const undecided = page.items.filter((i) => !i.decision);
      for (let n = 0; n < undecided.length; n += maxDecisionsPerCall) {
        const chunk = undecided.slice(n, n + maxDecisionsPerCall).map((i) => ({ itemId: i.itemId, decision }));
        await decideItems(
          this.deps,
          { userId: systemActor },
          run.envId,
          run.reviewId,
          run.instanceId,
          chunk,
          "default",
        );
      }
      if (undecided.length > 0) await this.retake();
      // Counted from the page's items (those defaulted before a stop too): the run row is written with
      // the cursor after the page, so a repeated page was never counted.
      const defaulted = page.items.filter((i) => !i.decision || i.defaulted).length;
      if (!page.continuation) {
        await this.lease.save({ ...this.row, defaulted: (this.row.defaulted ?? 0) + defaulted });
        return false;
      }
      await this.lease.save({
        ...this.row,
        cursor: page.continuation,
        defaulted: (this.row.defaulted ?? 0) + defaulted,
      });
      if (this.lease.outOfTime()) return true;
    }
  }

  /** The page of the instance's items at the walk's cursor (the defaults' walk and the apply's). */
  private itemsAtCursor() {
    const { envId, reviewId, instanceId, cursor } = this.row;
    return this.deps.reviews.itemsPage(envId, reviewId, instanceId, cursor, this.pageSize);
  }

  /** Takes the lease again on the run row as another write (the decisions' counts) left it, if it is still ours. */
  private async retake(): Promise<void> {
    const mine = this.row;
    const got = await this.deps.reviews.getRun(mine.envId, mine.reviewId, mine.instanceId);
    if (!got || got.run.leaseId !== mine.leaseId)
      throw new ConcurrencyError(`review instance ${mine.instanceId}: the lease was taken over`);
    this.lease = await Lease.take<ReviewInstance>(
      { ...got.run, cursor: mine.cursor, defaulted: mine.defaulted },
      got.etag,
      (r, e, outbox) => this.deps.reviews.putRun(r, e, outbox),
      this.deps,
      Math.max(1, this.deadline - Date.now()),
    );
  }

  /**
   * Revokes denied grants, a page of items at a time: each item's outcome is written on its row
   * (upserted with its index rows: decisions are closed by then, so only the runner writes items),
   * then the run row with the page's outcomes counted and the cursor after it.
   */
  private async walkApply(): Promise<boolean> {
    const run = this.row;
    for (;;) {
      const page = await this.itemsAtCursor();
      const denied = page.items.filter((i) => i.decision === "deny");
      const done: ReviewItem[] = [];
      await forEachLimit(
        denied.filter((i) => !i.outcome),
        applyConcurrency,
        async (item) => {
          const outcome = await applyDenial(this.deps, run, item);
          done.push({ ...item, ...outcome });
        },
      );
      if (done.length > 0) await this.deps.reviews.putItems(run.envId, run.reviewId, run.instanceId, done);
      const byId = new Map(done.map((i) => [i.itemId, i]));
      const counts: ApplyCounts = { ...this.row.applyCounts };
      for (const i of denied) {
        const outcome = byId.get(i.itemId)?.outcome ?? i.outcome;
        if (outcome) counts[outcome]++;
      }
      if (!page.continuation) {
        await this.lease.save({ ...this.row, applyCounts: counts });
        return false;
      }
      await this.lease.save({ ...this.row, applyCounts: counts, cursor: page.continuation });
      if (this.lease.outOfTime()) return true;
    }
  }
}

/** An id derived from the instance and the item: applying again writes the same entry (and event). */
export const denyChangeId = (run: Pick<ReviewInstance, "envId" | "reviewId" | "instanceId">, itemId: string) =>
  `rd${createHash("sha256")
    .update(JSON.stringify([run.envId, run.reviewId, run.instanceId, itemId]))
    .digest("hex")
    .slice(0, 40)}`;

/**
 * Revokes one denied grant as a revoke does (the grant row goes, index rows and a group's members
 * follow through the relay), logged `review-deny` by the item's reviewer (`system` for a default).
 * The grant the item names is gone, or is a newer grant than the snapshot's (revoked and shared
 * again meanwhile: not in this instance): `alreadyGone`. A change the rules refuse (a flow's
 * creator, a role that changes only by reassignment) or a conflict after `changeResource`'s retries:
 * `failed`, with why.
 */
type Outcome = Pick<ReviewItem, "outcome" | "outcomeDetail">;

export async function applyDenial(deps: Deps, run: ReviewInstance, item: ReviewItem): Promise<Outcome> {
  const p = item.principal;
  try {
    return await changeResource<Outcome>(deps, async () => {
      const state = await deps.repo.resourceStateFor(run.envId, item.resourceId, [p]);
      const grant = state?.grants.find(
        (g) => g.principalType === p.type && g.principalId === p.id && g.role === item.role,
      );
      if (!state || !grant || grant.grantedAt !== item.since) return { result: { outcome: "alreadyGone" } };
      const resource = state.resource;
      if (!manageAction(resource.kind, item.role))
        return {
          result: {
            outcome: "failed",
            outcomeDetail: `the ${item.role} of a ${resource.kind} resource changes only by reassignment`,
          },
        };
      if (resource.kind === "cloudFlow" && item.role === "owner" && p.type === "user" && p.id === resource.creatorId)
        return {
          result: { outcome: "failed", outcomeDetail: "the creator of a flow can never be removed as owner" },
        };
      const entry: ChangeEntry = {
        changeId: denyChangeId(run, item.itemId),
        at: deps.clock().toISOString(),
        actorId: item.defaulted || !item.decidedBy ? systemActor : item.decidedBy,
        action: "review-deny",
        resourceId: item.resourceId,
        principal: p,
        role: item.role,
        reviewId: run.reviewId,
        instanceId: run.instanceId,
        detail:
          `revoked ${item.role}: denied in access review "${run.definition.displayName}"${item.defaulted ? " (the default decision)" : ""}${item.justification ? `: ${item.justification}` : ""}`.slice(
            0,
            2000,
          ),
      };
      const live = state.grants.filter((g) => g !== grant);
      const updated = { ...resource, updatedAt: entry.at };
      return {
        result: { outcome: "applied" },
        change: {
          etag: state.etag,
          resource: updated,
          deleteGrants: [{ principal: p, role: item.role }],
          changes: [entry],
          outbox: outboxItems(deps, [
            { type: "index", envId: run.envId, resourceId: item.resourceId, principals: [p] },
            { type: "log", envId: run.envId, entries: [entry] },
          ]),
        },
        known: {
          resource: updated,
          roles: new Map([[principalKey(p), rolesOf(live, p)]]),
          expiries: new Map([[principalKey(p), expiriesOf(live, p)]]),
        },
      };
    });
  } catch (e) {
    // Refused (a 409 after the retries, a rule, a limit): failed, with why. Anything else (storage
    // unreachable) is thrown: the page is done again on the runner's next pass.
    const refused = (e instanceof DomainError && e.code !== "unavailable") || e instanceof StorageLimitError;
    if (!refused) throw e;
    return { outcome: "failed", outcomeDetail: e.message.slice(0, 500) };
  }
}

/** The finished instance's one change log entry; its id comes from the instance (one event per instance). */
export function completedEntry(run: ReviewInstance): ChangeEntry {
  const c = run.counts;
  const a = run.applyCounts;
  const applied =
    run.status === "applied"
      ? `; applied: ${a.applied} revoked, ${a.alreadyGone} already gone, ${a.failed} failed`
      : "";
  return {
    changeId: `review.${run.instanceId}`.slice(0, 80),
    at: run.finishedAt ?? run.completedAt ?? run.createdAt,
    actorId: run.trigger === "schedule" ? systemActor : run.startedBy,
    action: "review.completed",
    reviewId: run.reviewId,
    instanceId: run.instanceId,
    detail:
      `access review "${run.definition.displayName}" instance ${run.instanceId} completed: ${c.items} item(s), ${c.approve} approved, ${c.deny} denied, ${c.dontKnow} don't know, ${c.undecided} undecided${applied}`.slice(
        0,
        2000,
      ),
  };
}

/** The enabled SystemAdministrators of the environment (the `admins` key's people). */
export async function enabledAdminsOf(deps: Pick<Capabilities, "repo">, envId: string): Promise<TenantUser[]> {
  const members = await deps.repo.environmentMembers(envId);
  const ids = members.filter((m) => m.securityRoles.includes("SystemAdministrator")).map((m) => m.userId);
  return (await Promise.all(ids.map((id) => deps.repo.getUser(id)))).filter(
    (u): u is TenantUser => u !== undefined && u.enabled,
  );
}

/**
 * `POST .../reviews/{reviewId}/instances/{instanceId}/apply`: a completed instance's denials are
 * applied by the runner (phase `apply`, the `open` row written again first so the timer finds it),
 * then advanced at once for a short budget. 409 unless completed and not applied.
 */
export async function requestApply(
  deps: Deps,
  caller: Caller,
  envId: string,
  reviewId: string,
  instanceId: string,
  options: AdvanceOptions = {},
): Promise<ReviewInstance> {
  await requireEnvironmentAdmin(deps, caller, envId, {
    refusal: "applying a review's results is for environment admins and apps with the Sharing.Admin role",
  });
  for (let tries = 0; ; tries++) {
    const got = await deps.reviews.getRun(envId, reviewId, instanceId);
    if (!got) throw notFound(`review instance ${instanceId} was not found`);
    const { run, etag } = got;
    if (run.status !== "completed")
      throw conflict(
        run.status === "applied"
          ? `review instance ${instanceId} is applied already`
          : `review instance ${instanceId} is not completed yet`,
      );
    if (run.phase === "apply") return run; // asked twice, or autoApply on its way
    if (run.phase !== "done" && run.phase !== "finish")
      throw conflict(`review instance ${instanceId} is still completing; try again shortly`);
    // Finishing (its summary on its way): the apply comes after, once it is done.
    if (run.phase === "finish" || leaseHeld(run, deps.clock()))
      throw conflict(`review instance ${instanceId} is being finished; try again shortly`);
    await deps.reviews.putOpen({ envId, reviewId, instanceId });
    try {
      await deps.reviews.putRun({ ...run, phase: "apply", cursor: undefined }, etag);
    } catch (e) {
      if (e instanceof ConcurrencyError && tries < 3) continue;
      if (e instanceof ConcurrencyError) throw conflict(`review instance ${instanceId} kept changing; try again`);
      throw e;
    }
    return (await advanceReview(deps, envId, reviewId, instanceId, { budgetMs: options.budgetMs ?? 5_000 })) ?? run;
  }
}
