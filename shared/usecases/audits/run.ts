import { ConcurrencyError } from "../../errors.js";
import { isExpired, type ChangeEntry, type Environment } from "../../model/records.js";
import { compareFindings, ownersAddedFindings, resourceFindings, severityOf } from "../../rules/audit.js";
import {
  auditRules,
  severities,
  type AuditRule,
  type AuditRun,
  type AuditStats,
  inventoryOwnersListed,
  type Finding,
  type InventoryItem,
  type Severity,
} from "../../model/audits.js";
import type { ResourceState } from "../../store/repository.js";
import { isResourceCursor } from "../../store/auditReads.js";
import type { AuditsRepository } from "../../store/auditsRepository.js";
import { auditPartition, chunkFindings, chunkInventory } from "../../store/auditsRepository.js";
import { Lease, leaseHeld, walkPages } from "../catalogWalk.js";
import { outboxItems } from "../mutate.js";
import { systemActor, type Capabilities } from "../capabilities.js";
import { relayNow, relayPartition } from "../relay.js";
import { startClaimIfNone } from "../claims.js";
import { DirectoryFacts } from "./directoryFacts.js";

type Deps = Pick<
  Capabilities,
  "repo" | "audits" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "clock" | "newId"
>;

export interface AuditOptions {
  /** Stop after the page during which this much time has passed; the runner timer continues later. */
  budgetMs?: number;
  /** Rows per page of the environment's resources (at most 1,000, the default). */
  pageSize?: number;
  /** Where progress lines go (the Functions log); default `deps.log`. */
  progress?: (line: string) => void;
  /** Most profiles of users outside the environment's member rows kept in memory at once. */
  userCacheSize?: number;
}

const topFindings = 20;
const maxAttempts = 5;
/** A never-audited sensitive environment reports owners added in this window. */
const firstAuditLookbackMs = 30 * 86_400_000;

/** What one step (a page of resources, a change-log page) added to the counts. */
type Step = Partial<Omit<AuditStats, "findings" | "byRule">>;

export function emptyStats(): AuditStats {
  return {
    resources: 0,
    grants: 0,
    pages: 0,
    changesRead: 0,
    findings: 0,
    byRule: Object.fromEntries(auditRules.map((r) => [r, 0])) as Record<AuditRule, number>,
  };
}

/**
 * Runs an audit from where it stands until it is done or the budget is used. Reads the
 * environment's directory partition by range (members with their facts, group memberships), then
 * streams its resources, meta and grants of every resource partition, a page of rows at a time (the
 * leased walk of `catalogWalk.ts`, shared with reassignment). Each page's findings are written as
 * chunks before the run row records the page, so memory holds the directory's facts and one page,
 * and a stopped run repeats at most one page (and the resource open at its end). Returns the run as
 * it was left, or undefined when there is no such audit or another runner claimed it first.
 */
export async function runAudit(
  deps: Deps,
  envId: string,
  auditId: string,
  options: AuditOptions = {},
): Promise<AuditRun | undefined> {
  const audits = deps.audits;
  const progress = options.progress ?? deps.log;
  const budgetMs = options.budgetMs ?? 240_000;
  const got = await audits.getRun(envId, auditId);
  if (!got) return undefined;
  const { run, etag } = got;
  if (run.status === "failed") {
    await audits.removePending(envId, auditId);
    return run;
  }
  if (run.status === "done") {
    // What a stop right after the completion left: its change log entry (the outbox row written with
    // it; one range read), the report. The pending row stays until both are out.
    await relayPartition(deps, "audits", auditPartition(envId, auditId));
    await audits.putTrend(run);
    if (!run.reportQueuedAt) await queueReport(deps, audits, envId, auditId);
    await audits.removePending(envId, auditId);
    return run;
  }
  const now = deps.clock();
  if (leaseHeld(run, now)) return run;
  const env = await deps.repo.getEnvironment(envId);
  const startedAt = run.startedAt ?? now.toISOString();
  let lease: Lease<AuditRun>;
  try {
    lease = await Lease.take<AuditRun>(
      {
        ...run,
        status: env ? "running" : "failed",
        ...(env
          ? {}
          : { error: "the environment was deleted before the audit finished", finishedAt: now.toISOString() }),
        startedAt,
        since:
          run.since ?? env?.lastAuditAt ?? new Date(new Date(startedAt).getTime() - firstAuditLookbackMs).toISOString(),
      },
      etag,
      (r, e, outbox) => audits.putRun(r, e, outbox),
      deps,
      budgetMs,
    );
  } catch (e) {
    if (e instanceof ConcurrencyError) return undefined; // another runner claimed it first
    throw e;
  }
  if (!env) {
    await audits.removePending(envId, auditId);
    return lease.row;
  }
  if (run.phase === "catalog" && !run.cursor) progress(`audit ${auditId} of ${envId}: started`);

  try {
    if (await walkPhases(deps, audits, env, lease, options)) {
      progress(`audit ${auditId} of ${envId}: time budget used; the runner continues it`);
      return lease.row;
    }
    const done: AuditRun = { ...lease.row, status: "done", finishedAt: deps.clock().toISOString(), cursor: undefined };
    // The log entry is an outbox row of the completion's own transaction: only one write of a run can
    // make it done (the row's ETag), so there is one entry, and a stop before its relay leaves it for
    // the runner, which finds the run through its pending row.
    const outbox = outboxItems(deps, [{ type: "log", envId, entries: [completedEntry(done)] }]);
    await lease.release(done, outbox);
    const relayed = await relayNow(deps, "audits", auditPartition(envId, auditId), outbox);
    await audits.markEnvironmentAudited(envId, startedAt);
    // Its trend row, before the email whose page shows it; a stop before it leaves the pending row,
    // and the runner's pass over the done run writes it (an upsert under the same key).
    await audits.putTrend(done);
    await queueReport(deps, audits, envId, auditId);
    if (relayed) await audits.removePending(envId, auditId);
    const { stats } = lease.row;
    progress(
      `audit ${auditId} of ${envId}: done, ${stats.resources} resources, ${stats.grants} grants, ${stats.findings} findings`,
    );
    return lease.row;
  } catch (e) {
    if (e instanceof ConcurrencyError) return lease.row; // another runner took it over (our lease ran out)
    // Past the completion (written or not), no write here may carry the run without its outbox row:
    // the runner finishes it through the pending row, once the lease is free.
    if (lease.row.status === "done") throw e;
    const attempts = lease.row.attempts + 1;
    const failed = attempts >= maxAttempts;
    const message = e instanceof Error ? e.message : String(e);
    await lease
      .release({
        ...lease.row,
        attempts,
        ...(failed ? { status: "failed", error: message.slice(0, 1000), finishedAt: deps.clock().toISOString() } : {}),
      })
      .catch(() => undefined);
    if (failed) await audits.removePending(envId, auditId).catch(() => undefined);
    throw e;
  }
}

/**
 * The resources phase (still called "catalog" on stored runs), then the change-log phase, from the
 * phase and cursor on the run row, each step recorded on it. True when the budget ran out first
 * (the lease is released then).
 */
async function walkPhases(
  deps: Deps,
  audits: AuditsRepository,
  env: Environment,
  lease: Lease<AuditRun>,
  options: AuditOptions,
): Promise<boolean> {
  const { envId } = env;
  const progress = options.progress ?? deps.log;
  if (lease.row.phase === "catalog") {
    // A run left by a version that walked the catalog holds a catalog cursor: it starts over.
    if (lease.row.cursor !== undefined && !isResourceCursor(lease.row.cursor))
      await lease.save({
        ...lease.row,
        cursor: undefined,
        stats: emptyStats(),
        chunks: 0,
        inventoryChunks: 0,
        top: [],
      });
    const facts = await DirectoryFacts.read(deps, envId, options.userCacheSize ?? 10_000);
    const pages = audits.reads.resourcePages(envId, lease.row.cursor, options.pageSize ?? 1000);
    const end = await walkPages(lease, pages, false, async (run, page) => {
      const findings: Finding[] = [];
      const inventory: InventoryItem[] = [];
      let grants = 0;
      const now = deps.clock();
      for (const stored of page.resources) {
        // Grants past their expiry that the timer hasn't removed yet are gone for the audit too.
        const state = { ...stored, grants: stored.grants.filter((g) => !isExpired(g.expiresAt, now)) };
        grants += state.grants.length;
        inventory.push(inventoryItem(state));
        const found = resourceFindings(state, env, { ...(await facts.of(state)), now });
        findings.push(...found);
        // An ownerless resource without an open claim gets one (docs/claims.md); one point read otherwise.
        if (found.some((f) => f.rule === "ownerlessResource"))
          await startClaimIfNone(deps, env, state.resource.resourceId);
      }
      const next = await recordStep(
        audits,
        run,
        findings,
        { resources: page.resources.length, grants, pages: 1 },
        page.cursor ? "catalog" : "changes",
        inventory,
      );
      progress(
        `audit ${next.auditId} of ${envId}: ${next.stats.pages} page(s), ${next.stats.resources} resources, ${next.stats.grants} grants, ${next.stats.findings} findings so far`,
      );
      return next;
    });
    if (end === "outOfTime") return true;
  }
  while (lease.row.phase === "changes") {
    const step = await ownersAddedStep(deps, env, lease.row);
    const next = await recordStep(audits, lease.row, step.findings, { changesRead: step.read }, step.next.phase);
    await lease.save({ ...next, cursor: step.next.cursor });
    if (step.next.phase !== "report" && lease.outOfTime()) {
      await lease.release();
      return true;
    }
  }
  return false;
}

/**
 * A step's findings written as chunks (upserts numbered after the run's: a repeated step writes the
 * same ones again), and the run row that counts them, to be written next under the run's ETag.
 */
async function recordStep(
  audits: AuditsRepository,
  run: AuditRun,
  findings: Finding[],
  step: Step,
  phase: AuditRun["phase"],
  inventory: InventoryItem[] = [],
): Promise<AuditRun> {
  const chunks = chunkFindings(findings);
  const inventoryChunks = chunkInventory(inventory);
  const inventoryFrom = run.inventoryChunks ?? 0;
  await Promise.all([
    audits.putChunks(run.envId, run.auditId, run.chunks, chunks),
    audits.putInventory(run.envId, run.auditId, inventoryFrom, inventoryChunks),
  ]);
  const stats: AuditStats = {
    resources: run.stats.resources + (step.resources ?? 0),
    grants: run.stats.grants + (step.grants ?? 0),
    pages: run.stats.pages + (step.pages ?? 0),
    changesRead: run.stats.changesRead + (step.changesRead ?? 0),
    findings: run.stats.findings + findings.length,
    byRule: { ...run.stats.byRule },
  };
  for (const f of findings) stats.byRule[f.rule] = (stats.byRule[f.rule] ?? 0) + 1;
  const top = [...run.top, ...findings].sort(compareFindings).slice(0, topFindings);
  return {
    ...run,
    phase,
    stats,
    chunks: run.chunks + chunks.length,
    inventoryChunks: inventoryFrom + inventoryChunks.length,
    top,
  };
}

/** A resource as the report's inventory lists it: its owners and co-owners (grants past expiry already left out). */
export function inventoryItem(state: Pick<ResourceState, "resource" | "grants">): InventoryItem {
  const owners = state.grants
    .filter((g) => g.role === "owner" || g.role === "coOwner")
    // The primary owner's grant first, then owners before co-owners.
    .map((g) => ({ principalType: g.principalType, principalId: g.principalId, role: g.role as "owner" | "coOwner" }))
    .sort(
      (a, b) =>
        Number(b.principalId === state.resource.ownerId && b.role === "owner") -
          Number(a.principalId === state.resource.ownerId && a.role === "owner") ||
        Number(a.role === "coOwner") - Number(b.role === "coOwner") ||
        a.principalId.localeCompare(b.principalId),
    );
  return {
    resourceId: state.resource.resourceId,
    kind: state.resource.kind,
    displayName: state.resource.displayName,
    owners: owners.slice(0, inventoryOwnersListed),
    ownerCount: owners.length,
  };
}

/**
 * Sensitive environments: the owners added between the previous audit's start and this one's, from
 * the change log newest first, a page per step.
 */
async function ownersAddedStep(
  deps: Deps,
  env: Environment,
  run: AuditRun,
): Promise<{ findings: Finding[]; read: number; next: Pick<AuditRun, "phase" | "cursor"> }> {
  const done = { phase: "report" as const, cursor: undefined };
  if (!env.sensitive) return { findings: [], read: 0, next: done };
  const page = await deps.repo.environmentChanges(env.envId, run.cursor, 1000);
  const { findings, reachedSince } = ownersAddedFindings(page.items, run.since ?? "", run.startedAt ?? "");
  return {
    findings,
    read: page.items.length,
    next: reachedSince || !page.continuation ? done : { phase: "changes", cursor: page.continuation },
  };
}

/**
 * The finished audit's one change log entry. Its id comes from the audit, so a repeat of its relay
 * writes the same row and raises the same event. Counts only (by severity, from the rules' counts):
 * the findings themselves are in the report.
 */
export function completedEntry(run: AuditRun): ChangeEntry {
  const bySeverity = Object.fromEntries(severities.map((s) => [s, 0])) as Record<Severity, number>;
  for (const rule of auditRules) bySeverity[severityOf[rule]] += run.stats.byRule[rule] ?? 0;
  const { resources, grants, findings } = run.stats;
  return {
    changeId: `audit.${run.auditId}`.slice(0, 80),
    at: run.finishedAt ?? run.startedAt ?? run.createdAt,
    actorId: run.trigger === "schedule" ? systemActor : run.requestedBy,
    action: "audit.completed",
    auditId: run.auditId,
    detail: `audit ${run.auditId} done (${run.trigger === "schedule" ? "scheduled" : "requested"}): ${resources} resource(s), ${grants} grant(s), ${findings} finding(s): ${severities.map((s) => `${bySeverity[s]} ${s}`).join(", ")}`,
  };
}

/** Queues the report email, then marks the run so a later pass doesn't queue it again. */
async function queueReport(deps: Deps, audits: AuditsRepository, envId: string, auditId: string): Promise<void> {
  await deps.emailQueue.send({ kind: "auditReport", envId, auditId });
  const latest = await audits.getRun(envId, auditId);
  if (latest && !latest.run.reportQueuedAt) {
    await audits
      .putRun({ ...latest.run, reportQueuedAt: deps.clock().toISOString() }, latest.etag)
      .catch((e: unknown) => {
        if (!(e instanceof ConcurrencyError)) throw e;
      });
  }
}
