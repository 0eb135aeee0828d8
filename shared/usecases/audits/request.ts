import type { Environment } from "../../model/records.js";
import type { AuditRun } from "../../model/audits.js";
import { isAppAuditor, type Capabilities, type Caller } from "../capabilities.js";
import { requireEnvironmentAdmin } from "../adminGate.js";
import { emptyStats, runAudit, type AuditOptions } from "./run.js";

type Deps = Pick<
  Capabilities,
  "repo" | "audits" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock"
>;

// Who may run and read audits

export async function requireAuditor(
  deps: Pick<Capabilities, "repo">,
  caller: Caller,
  envId: string,
): Promise<Environment> {
  const { environment } = await requireEnvironmentAdmin(deps, caller, envId, {
    refusal: "audits are for environment admins and apps with the Sharing.Audit or Sharing.Admin role",
    alsoApps: isAppAuditor,
  });
  return environment;
}

function newRun(
  deps: Deps,
  envId: string,
  auditId: string,
  trigger: AuditRun["trigger"],
  requestedBy: string,
): AuditRun {
  return {
    auditId,
    envId,
    trigger,
    requestedBy,
    status: "queued",
    createdAt: deps.clock().toISOString(),
    phase: "catalog",
    stats: emptyStats(),
    chunks: 0,
    top: [],
    attempts: 0,
  };
}

/**
 * `POST .../audits`: creates an audit and starts it within the request's time budget. Small
 * environments finish before the 202; a large one goes on in the runner timer (`auditRunner`), which
 * continues every unfinished audit from its last finished page, so no audit depends on an HTTP
 * request living long.
 */
export async function requestAudit(
  deps: Deps,
  caller: Caller,
  envId: string,
  options: AuditOptions = {},
): Promise<{ auditId: string; status: AuditRun["status"] }> {
  await requireAuditor(deps, caller, envId);
  const auditId = deps.newId();
  await deps.audits.create(newRun(deps, envId, auditId, "request", caller.principalId));
  let status: AuditRun["status"] = "queued";
  try {
    status = (await runAudit(deps, envId, auditId, options))?.status ?? status;
  } catch (e) {
    // Already recorded on the run; the runner timer tries again.
    deps.log(
      `audit ${auditId} of ${envId} stopped and will be continued by the runner: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  return { auditId, status };
}

/** The id of the scheduled audit of an environment for one timer firing: a second firing in the same minute finds it. */
export const scheduledAuditId = (at: Date) => `scheduled-${at.toISOString().slice(0, 16).replace(/[-:]/g, "")}`;

/**
 * The `scheduledAudit` timer: one audit per environment, then as much of them as the budget allows;
 * the rest is continued by the runner timer.
 */
export async function auditEveryEnvironment(
  deps: Deps,
  options: AuditOptions = {},
): Promise<{ created: number; finished: number }> {
  const audits = deps.audits;
  const auditId = scheduledAuditId(deps.clock());
  const envIds: string[] = [];
  for await (const env of deps.repo.environments()) {
    await audits.create(newRun(deps, env.envId, auditId, "schedule", "schedule"));
    envIds.push(env.envId);
  }
  const finished = await runWithin(
    deps,
    envIds.map((envId) => ({ envId, auditId })),
    options,
  );
  return { created: envIds.length, finished };
}

/** The `auditRunner` timer: continues every audit not finished yet (stopped by a budget, a crash or an error). */
export async function continuePendingAudits(deps: Deps, options: AuditOptions = {}): Promise<number> {
  const audits = deps.audits;
  const pending: { envId: string; auditId: string }[] = [];
  for await (const p of audits.pending()) {
    // An index row whose audit was never written (a crash between the two writes of `create`).
    const stale = p.createdAt !== undefined && deps.clock().getTime() - Date.parse(p.createdAt) > 5 * 60_000;
    if (stale && !(await audits.getRun(p.envId, p.auditId))) await audits.removePending(p.envId, p.auditId);
    else pending.push(p);
  }
  return runWithin(deps, pending, options);
}

async function runWithin(
  deps: Deps,
  audits: { envId: string; auditId: string }[],
  options: AuditOptions,
): Promise<number> {
  const budgetMs = options.budgetMs ?? 240_000;
  const started = Date.now();
  let finished = 0;
  for (const [i, a] of audits.entries()) {
    const left = budgetMs - (Date.now() - started);
    // The first always gets a step, so a tiny budget still makes progress.
    if (i > 0 && left <= 0) break;
    try {
      const run = await runAudit(deps, a.envId, a.auditId, { ...options, budgetMs: Math.max(0, left) });
      if (run?.status === "done") finished++;
    } catch (e) {
      deps.log(
        `audit ${a.auditId} of ${a.envId} failed this time and will be tried again: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
  return finished;
}
