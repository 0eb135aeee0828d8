import { randomBytes } from "node:crypto";
import { ConcurrencyError, forbidden, notFound } from "../errors.js";
import type { ChangeEntry, Environment, Group } from "../model/records.js";
import { isEnvironmentAdmin } from "../rules/decide.js";
import { ownershipRoles } from "../rules/matrix.js";
import {
  auditRules,
  AuditsRepository,
  chunkFindings,
  severities,
  type AuditRule,
  type AuditRun,
  type AuditStats,
  type Finding,
  type Severity,
} from "../store/auditsRepository.js";
import type { ResourceState } from "../store/repository.js";
import { isAppAdmin, isAppAuditor, type Capabilities, type Caller } from "./capabilities.js";
import { forEachLimit } from "./catalogWalk.js";

type Deps = Pick<Capabilities, "repo" | "emailQueue" | "log" | "newId" | "clock">;

/** How bad each finding is; reports list the worst first. */
export const severityOf: Record<AuditRule, Severity> = {
  noEnabledOwner: "high",
  disabledConnectionOwner: "high",
  guestOwner: "high",
  ownerOutsideExpectedGroups: "medium",
  ownerAddedSinceLastAudit: "medium",
  disabledUserGrant: "low",
  tooManyOwners: "low",
};

/** What each rule means, in the words of sharing-rules.md, for reports and emails. */
export const ruleTitles: Record<AuditRule, string> = {
  noEnabledOwner: "Resources with no enabled owner",
  disabledConnectionOwner: "Embedded connections owned by disabled users",
  guestOwner: "Guest owners",
  ownerOutsideExpectedGroups: "Owners outside the expected owner groups",
  ownerAddedSinceLastAudit: "Owners and co-owners added since the last audit",
  disabledUserGrant: "Grants to disabled users",
  tooManyOwners: "Flows with more owners than allowed",
};

const severityRank = (s: Severity) => severities.indexOf(s);
const ruleRank = (r: AuditRule) => auditRules.indexOf(r);
/** Worst first: severity, then the rule's place in the list, then resource and principal. */
export function compareFindings(a: Finding, b: Finding): number {
  return (
    severityRank(a.severity) - severityRank(b.severity) ||
    ruleRank(a.rule) - ruleRank(b.rule) ||
    (a.resourceId ?? "").localeCompare(b.resourceId ?? "") ||
    (a.principalId ?? "").localeCompare(b.principalId ?? "")
  );
}

export interface AuditOptions {
  /** Stop after the page during which this much time has passed; the runner timer continues later. */
  budgetMs?: number;
  pageSize?: number;
  concurrency?: number;
  /** Where progress lines go (the Functions log); default `deps.log`. */
  progress?: (line: string) => void;
  /** Most user profiles kept in memory at once. */
  userCacheSize?: number;
}

const topFindings = 20;
const maxAttempts = 5;
const leaseMarginMs = 60_000;
/** A never-audited sensitive environment reports owners added in this window. */
const firstAuditLookbackMs = 30 * 86_400_000;

// Who may run and read audits

async function requireAuditor(deps: Deps, caller: Caller, envId: string): Promise<Environment> {
  const env = await deps.repo.getEnvironment(envId);
  if (isAppAdmin(caller) || isAppAuditor(caller)) {
    if (!env) throw notFound(`environment ${envId} was not found`);
    return env;
  }
  const ctx = await deps.repo.principalContext(envId, caller.principalId);
  if (!env || !ctx.membership) throw notFound(`environment ${envId} was not found`);
  if (!ctx.user?.enabled || !isEnvironmentAdmin({ securityRoles: ctx.membership.securityRoles })) {
    throw forbidden("audits are for environment admins and apps with the Sharing.Audit or Sharing.Admin role");
  }
  return env;
}

function emptyStats(): AuditStats {
  return {
    resources: 0,
    grants: 0,
    pages: 0,
    changesRead: 0,
    findings: 0,
    byRule: Object.fromEntries(auditRules.map((r) => [r, 0])) as Record<AuditRule, number>,
  };
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
  await new AuditsRepository(deps.repo).create(newRun(deps, envId, auditId, "request", caller.principalId));
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
  const audits = new AuditsRepository(deps.repo);
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
  const audits = new AuditsRepository(deps.repo);
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

/**
 * Runs an audit from where it stands until it is done or the budget is used. Streams the catalog
 * page by page, reading each resource's grants one resource at a time, with user profiles in a
 * bounded cache; each page's findings are written as chunks before the run row records the page,
 * so memory holds one page and a stopped run repeats at most one page. Returns the run as it was left,
 * or undefined when there is no such audit.
 */
export async function runAudit(
  deps: Deps,
  envId: string,
  auditId: string,
  options: AuditOptions = {},
): Promise<AuditRun | undefined> {
  const audits = new AuditsRepository(deps.repo);
  const progress = options.progress ?? deps.log;
  const budgetMs = options.budgetMs ?? 240_000;
  const pageSize = options.pageSize ?? 200;
  const concurrency = options.concurrency ?? 8;
  const got = await audits.getRun(envId, auditId);
  if (!got) return undefined;
  let { run, etag } = got;
  if (run.status === "failed") {
    await audits.removePending(envId, auditId);
    return run;
  }
  if (run.status === "done") {
    if (!run.reportQueuedAt) await queueReport();
    await audits.removePending(envId, auditId);
    return run;
  }
  const now = deps.clock();
  if (run.leaseUntil && new Date(run.leaseUntil) > now) return run;
  const env = await deps.repo.getEnvironment(envId);
  const leaseId = randomBytes(8).toString("hex");
  const lease = () => new Date(deps.clock().getTime() + budgetMs + leaseMarginMs).toISOString();
  const startedAt = run.startedAt ?? now.toISOString();
  run = {
    ...run,
    status: env ? "running" : "failed",
    ...(env ? {} : { error: "the environment was deleted before the audit finished", finishedAt: now.toISOString() }),
    startedAt,
    since:
      run.since ?? env?.lastAuditAt ?? new Date(new Date(startedAt).getTime() - firstAuditLookbackMs).toISOString(),
    leaseId,
    leaseUntil: lease(),
  };
  try {
    etag = await audits.putRun(run, etag);
  } catch (e) {
    if (e instanceof ConcurrencyError) return undefined; // another runner claimed it first
    throw e;
  }
  if (!env) {
    await audits.removePending(envId, auditId);
    return run;
  }
  if (run.phase === "catalog" && !run.cursor) progress(`audit ${auditId} of ${envId}: started`);

  const facts = new DirectoryFacts(deps, envId, options.userCacheSize ?? 10_000);
  const began = Date.now();
  /** Records one step: its findings as chunks first, then the run row under its ETag. */
  const advance = async (findings: Finding[], step: Partial<AuditStats>, next: Pick<AuditRun, "phase" | "cursor">) => {
    const chunks = chunkFindings(findings);
    await audits.putChunks(envId, auditId, run.chunks, chunks);
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
    run = { ...run, ...next, cursor: next.cursor, stats, chunks: run.chunks + chunks.length, top, leaseUntil: lease() };
    etag = await audits.putRun(run, etag);
  };

  try {
    // `advance` replaces `run`; read its phase through a function so the loop sees the new value.
    const phase = (): AuditRun["phase"] => run.phase;
    while (phase() !== "report") {
      if (phase() === "catalog") {
        const page = await deps.repo.catalogPage(envId, run.cursor, pageSize);
        const findings: Finding[] = [];
        let grants = 0;
        await forEachLimit(page.resources, concurrency, async (r) => {
          const state = await deps.repo.resourceState(envId, r.resourceId);
          if (!state) return;
          grants += state.grants.length;
          findings.push(...(await evaluateResource(state, env, facts)));
        });
        await advance(
          findings,
          { resources: page.resources.length, grants, pages: 1 },
          page.continuation ? { phase: "catalog", cursor: page.continuation } : { phase: "changes", cursor: undefined },
        );
        progress(
          `audit ${auditId} of ${envId}: ${run.stats.pages} page(s), ${run.stats.resources} resources, ${run.stats.grants} grants, ${run.stats.findings} findings so far`,
        );
      } else {
        const step = await ownersAddedStep(deps, env, run);
        await advance(step.findings, { changesRead: step.read }, step.next);
      }
      if (phase() !== "report" && Date.now() - began >= budgetMs) {
        progress(`audit ${auditId} of ${envId}: time budget used; the runner continues it`);
        etag = await audits.putRun({ ...run, leaseUntil: undefined, leaseId: undefined }, etag);
        return run;
      }
    }
    run = {
      ...run,
      status: "done",
      finishedAt: deps.clock().toISOString(),
      leaseUntil: undefined,
      leaseId: undefined,
      cursor: undefined,
    };
    etag = await audits.putRun(run, etag);
    await audits.markEnvironmentAudited(envId, startedAt);
    await queueReport();
    await audits.removePending(envId, auditId);
    progress(
      `audit ${auditId} of ${envId}: done, ${run.stats.resources} resources, ${run.stats.grants} grants, ${run.stats.findings} findings`,
    );
    return run;
  } catch (e) {
    if (e instanceof ConcurrencyError) return run; // another runner took it over (our lease ran out)
    const attempts = run.attempts + 1;
    const failed = attempts >= maxAttempts;
    const message = e instanceof Error ? e.message : String(e);
    await audits
      .putRun(
        {
          ...run,
          attempts,
          leaseUntil: undefined,
          leaseId: undefined,
          ...(failed
            ? { status: "failed", error: message.slice(0, 1000), finishedAt: deps.clock().toISOString() }
            : {}),
        },
        etag,
      )
      .catch(() => undefined);
    if (failed) await audits.removePending(envId, auditId).catch(() => undefined);
    throw e;
  }

  async function queueReport(): Promise<void> {
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
}

/**
 * Sensitive environments: every owner or co-owner added (granted, or given by reassignment) after the
 * previous audit started and before this one did, read from the change log newest first, a page per step.
 */
async function ownersAddedStep(
  deps: Deps,
  env: Environment,
  run: AuditRun,
): Promise<{ findings: Finding[]; read: number; next: Pick<AuditRun, "phase" | "cursor"> }> {
  const done = { phase: "report" as const, cursor: undefined };
  if (!env.sensitive) return { findings: [], read: 0, next: done };
  const since = run.since ?? "";
  const until = run.startedAt ?? "";
  const page = await deps.repo.environmentChanges(env.envId, run.cursor, 1000);
  const findings: Finding[] = [];
  let reachedSince = false;
  for (const e of page.items) {
    if (e.at <= since) {
      reachedSince = true;
      break;
    }
    if (e.at > until || !addsOwner(e)) continue;
    findings.push({
      rule: "ownerAddedSinceLastAudit",
      severity: severityOf.ownerAddedSinceLastAudit,
      ...(e.resourceId ? { resourceId: e.resourceId } : {}),
      ...(e.principal ? { principalId: e.principal.id } : {}),
      detail: clip(
        `${e.principal?.type ?? "principal"} ${e.principal?.id ?? "?"} was made ${e.role ?? "owner"} of ${e.resourceId ?? "a resource"} by ${e.actorId} at ${e.at} (${e.action})`,
      ),
    });
  }
  return {
    findings,
    read: page.items.length,
    next: reachedSince || !page.continuation ? done : { phase: "changes", cursor: page.continuation },
  };
}

const addsOwner = (e: ChangeEntry) =>
  (e.action === "grant" || e.action === "reassign") && e.role !== undefined && ownershipRoles.includes(e.role);

const clip = (s: string) => (s.length > 1000 ? `${s.slice(0, 997)}...` : s);

interface UserFacts {
  known: boolean;
  enabled: boolean;
  guest: boolean;
  groupIds: string[];
}

/** A map that forgets its least recently used entries past a size: memory stays bounded whatever the tenant's size. */
export class BoundedCache<K, V> {
  private readonly map = new Map<K, V>();
  constructor(readonly max: number) {}
  get size(): number {
    return this.map.size;
  }
  getOrAdd(key: K, make: () => V): V {
    const hit = this.map.get(key);
    if (hit !== undefined) {
      this.map.delete(key);
      this.map.set(key, hit);
      return hit;
    }
    const value = make();
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
    return value;
  }
}

/** Profiles, group memberships and groups as the audit needs them, read once each while they stay cached. */
class DirectoryFacts {
  readonly users: BoundedCache<string, Promise<UserFacts>>;
  readonly groups: BoundedCache<string, Promise<Group | undefined>>;
  constructor(
    private readonly deps: Deps,
    private readonly envId: string,
    size: number,
  ) {
    this.users = new BoundedCache(size);
    this.groups = new BoundedCache(Math.max(100, Math.floor(size / 10)));
  }
  user(userId: string): Promise<UserFacts> {
    return this.users.getOrAdd(userId, async () => {
      const ctx = await this.deps.repo.principalContext(this.envId, userId);
      return {
        known: ctx.user !== undefined,
        enabled: ctx.user?.enabled === true,
        guest: ctx.user?.userType === "guest",
        groupIds: ctx.memberOf.map((m) => m.id),
      };
    });
  }
  group(groupId: string): Promise<Group | undefined> {
    return this.groups.getOrAdd(groupId, async () => (await this.deps.repo.getGroup(this.envId, groupId))?.group);
  }
  async groupHasEnabledMember(groupId: string): Promise<boolean> {
    for (const id of (await this.group(groupId))?.memberIds ?? []) if ((await this.user(id)).enabled) return true;
    return false;
  }
}

/** The findings about one resource, from its grants and connections. */
async function evaluateResource(state: ResourceState, env: Environment, facts: DirectoryFacts): Promise<Finding[]> {
  const r = state.resource;
  const what = `${r.kind} "${r.displayName}"`;
  const out: Finding[] = [];
  const add = (rule: AuditRule, detail: string, principalId?: string) =>
    out.push({
      rule,
      severity: severityOf[rule],
      resourceId: r.resourceId,
      ...(principalId ? { principalId } : {}),
      detail: clip(detail),
    });
  const expected = env.expectedOwnerGroupIds;
  const owners = state.grants.filter((g) => g.role === "owner");
  let enabledOwner = false;
  for (const g of state.grants) {
    const owning = ownershipRoles.includes(g.role);
    if (g.principalType === "user") {
      const u = await facts.user(g.principalId);
      if (!u.enabled)
        add(
          "disabledUserGrant",
          `${g.role} of ${what} is granted to ${u.known ? "disabled user" : "a user no longer in the tenant directory,"} ${g.principalId}`,
          g.principalId,
        );
      else if (g.role === "owner") enabledOwner = true;
      if (owning && u.guest) add("guestOwner", `guest user ${g.principalId} is ${g.role} of ${what}`, g.principalId);
      if (owning && expected.length > 0 && !u.groupIds.some((id) => expected.includes(id))) {
        add(
          "ownerOutsideExpectedGroups",
          `${g.role} ${g.principalId} of ${what} is in none of the expected owner groups (${expected.join(", ")})`,
          g.principalId,
        );
      }
    } else if (owning && expected.length > 0 && !expected.includes(g.principalId)) {
      add(
        "ownerOutsideExpectedGroups",
        `${g.principalType} ${g.principalId} is ${g.role} of ${what} and is not one of the expected owner groups (${expected.join(", ")})`,
        g.principalId,
      );
    }
  }
  if (!enabledOwner) {
    for (const g of owners) {
      if (g.principalType !== "user" && (await facts.groupHasEnabledMember(g.principalId))) {
        enabledOwner = true;
        break;
      }
    }
  }
  if (!enabledOwner) {
    add(
      "noEnabledOwner",
      owners.length === 0
        ? `${what} has no owner`
        : `no owner of ${what} is enabled (${owners.map((g) => `${g.principalType} ${g.principalId}`).join(", ")}); co-owners don't become owner by themselves: reassign it`,
    );
  }
  if (r.kind === "cloudFlow" && env.maxOwners !== undefined && owners.length > env.maxOwners) {
    add(
      "tooManyOwners",
      `${what} has ${owners.length} owners, more than the ${env.maxOwners} allowed; prefer run-only access for people who only run it`,
    );
  }
  for (const c of r.kind === "cloudFlow" ? (r.connections ?? []) : []) {
    if (c.usage !== "embedded") continue;
    const u = await facts.user(c.ownerId);
    if (!u.enabled)
      add(
        "disabledConnectionOwner",
        `embedded connection ${c.id} (${c.connector}) of ${what} uses the credentials of ${u.known ? "disabled user" : "unknown user"} ${c.ownerId}; an owner must give it new credentials`,
        c.ownerId,
      );
  }
  return out;
}

// Reading reports

export interface AuditReport {
  auditId: string;
  envId: string;
  trigger: AuditRun["trigger"];
  status: AuditRun["status"];
  createdAt: string;
  startedAt?: string | undefined;
  finishedAt?: string | undefined;
  stats: AuditStats;
  error?: string | undefined;
  findings: Finding[];
}

/** `GET .../audits/{auditId}`: the run and its findings, worst first (so far, while it runs). */
export async function getAudit(deps: Deps, caller: Caller, envId: string, auditId: string): Promise<AuditReport> {
  await requireAuditor(deps, caller, envId);
  const audits = new AuditsRepository(deps.repo);
  const got = await audits.getRun(envId, auditId);
  if (!got) throw notFound(`audit ${auditId} was not found in environment ${envId}`);
  const r = got.run;
  const findings = (await audits.findings(envId, auditId, r.chunks)).sort(compareFindings);
  return {
    auditId: r.auditId,
    envId: r.envId,
    trigger: r.trigger,
    status: r.status,
    createdAt: r.createdAt,
    ...(r.startedAt ? { startedAt: r.startedAt } : {}),
    ...(r.finishedAt ? { finishedAt: r.finishedAt } : {}),
    stats: r.stats,
    ...(r.error ? { error: r.error } : {}),
    findings,
  };
}

/**
 * Findings as CSV (RFC 4180): every field quoted, quotes doubled, and a field that a spreadsheet
 * would take for a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) prefixed with
 * `'` so it stays text.
 */
export function findingsCsv(findings: readonly Finding[]): string {
  const cell = (v: string | undefined) => {
    const s = v ?? "";
    const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
    return `"${safe.replace(/"/g, '""')}"`;
  };
  const lines = [["rule", "severity", "resourceId", "principalId", "detail"].map(cell).join(",")];
  for (const f of findings) lines.push([f.rule, f.severity, f.resourceId, f.principalId, f.detail].map(cell).join(","));
  return lines.join("\r\n") + "\r\n";
}
