import { ConcurrencyError, conflict, invalid, notFound, ruleViolation } from "../errors.js";
import type { EmailJob } from "../model/emailJobs.js";
import type { Environment, Resource } from "../model/records.js";
import type { ResourceChange, ResourceState } from "../store/repository.js";
import type { ConnectionToFix, ReassignmentItem, ReassignmentJob } from "../model/reassignments.js";
import type { ReassignmentsRepository } from "../store/reassignmentsRepository.js";
import { requireEnvironmentAdmin } from "./adminGate.js";
import { type Capabilities, type Caller } from "./capabilities.js";
import { catalogPages, forEachLimit, Lease, leaseHeld, walkCatalog, type PutRow } from "./catalogWalk.js";
import { changeEntry, changeResource, outboxItems } from "./mutate.js";
import { ownerCapableRoles } from "../rules/successor.js";
import { withResolveRoute } from "./connections.js";
import { handOver, ownerAlertId, ownerAlertJobs } from "./primaryOwner.js";

type Deps = Pick<
  Capabilities,
  "repo" | "reassignments" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock"
>;

export interface ReassignRequest {
  fromUserId: string;
  toUserId: string;
  dryRun: boolean;
}

export interface ReassignOptions {
  /** Stop after the page during which this much time has passed; the job is continued by re-posting. */
  budgetMs?: number;
  /** Catalog page size (tests use small pages to cross page boundaries). */
  pageSize?: number;
  /** Resources changed at once within a page. */
  concurrency?: number;
}

export interface ReassignResult {
  /** "done": every record was walked; "running": the time budget ran out, post the same request again; "dryRun": nothing changed. */
  status: "done" | "running" | "dryRun";
  jobId?: string | undefined;
  reassigned: {
    resourceId: string;
    kind: Resource["kind"];
    displayName: string;
    fromUserId: string;
    toUserId: string;
    creatorKeptAsOwner: boolean;
  }[];
  needsCopy: { resourceId: string; kind: Resource["kind"]; displayName: string; reason: string }[];
  /** Each with `resolveWith`, the route by which an owner takes the connection over (contract v2). */
  connectionsToFix: (ConnectionToFix & { resolveWith: string })[];
  resourcesScanned: number;
}

const defaultBudgetMs = 100_000;

/**
 * `POST /api/environments/{envId}/reassignments`: moves every record a leaving user owns to another
 * user (seeds 000 and 004). Processes and solution-aware flows change owner in place, one ETag-guarded
 * transaction per resource (the new owner's grant and the meta row's `ownerId` together, so no
 * resource is ever without an owner); non-solution-aware flows are listed under `needsCopy`; embedded
 * connections of the leaving user, in any flow, under `connectionsToFix`. The walk follows the
 * environment's catalog page by page and records its progress, so it is idempotent and an
 * interrupted run continues where it stopped when the same request is posted again. A dry run walks
 * the same way, from the same point, and changes nothing.
 */
export async function reassign(
  deps: Deps,
  caller: Caller,
  envId: string,
  req: ReassignRequest,
  options: ReassignOptions = {},
): Promise<ReassignResult> {
  await requireReassigner(deps, caller, envId);
  await requireTarget(deps, envId, req);
  const jobs = deps.reassignments;
  const pageSize = options.pageSize ?? 200;
  const concurrency = options.concurrency ?? 8;
  const budgetMs = options.budgetMs ?? defaultBudgetMs;
  const existing = await jobs.getJob(envId, req.fromUserId, req.toUserId);
  const resuming = existing?.job.status === "running" ? existing.job : undefined;

  if (req.dryRun) {
    // What the real run would do now: continue a running job after its cursor, reporting its results so far.
    const items = new Map(
      (resuming ? await jobs.items(envId, resuming.runId) : []).map((i) => [i.resourceId, i] as const),
    );
    let scanned = resuming?.resourcesScanned ?? 0;
    for await (const page of catalogPages(deps.repo, envId, resuming?.cursor, pageSize)) {
      await forEachLimit(page.resources, concurrency, async (r) => {
        const state = await deps.repo.resourceState(envId, r.resourceId);
        const item = state ? planItem(state, req, items.get(r.resourceId)) : undefined;
        if (item && isReportable(item)) items.set(r.resourceId, item);
        else items.delete(r.resourceId);
      });
      scanned += page.resources.length;
    }
    return summarize(envId, "dryRun", undefined, [...items.values()], req, scanned);
  }

  // Whether moved resources alert the admins (a sensitive environment); read once for the run.
  const env = await deps.repo.getEnvironment(envId);
  if (!env) throw notFound(`environment ${envId} was not found`);
  const now = deps.clock();
  if (resuming && leaseHeld(resuming, now)) {
    throw conflict(
      `a reassignment from ${req.fromUserId} to ${req.toUserId} is already running; post the same request again after ${resuming.leaseUntil} to continue it`,
    );
  }
  const started: ReassignmentJob = resuming
    ? { ...resuming, actorId: caller.principalId, updatedAt: now.toISOString() }
    : {
        envId,
        fromUserId: req.fromUserId,
        toUserId: req.toUserId,
        runId: deps.newId(),
        status: "running",
        actorId: caller.principalId,
        pagesDone: 0,
        resourcesScanned: 0,
        startedAt: now.toISOString(),
        updatedAt: now.toISOString(),
      };
  // Only the job row's own writes are conflicts with another request; a resource's are retried in `changeResource`.
  let taken = false;
  const putJob: PutRow<ReassignmentJob> = (job, etag) =>
    jobs.putJob(job, etag).catch((e: unknown) => {
      if (!(e instanceof ConcurrencyError)) throw e;
      throw conflict(
        taken
          ? "another request took this reassignment over; post the same request again to see where it stands"
          : "another request started this reassignment at the same moment; post it again to continue",
      );
    });
  // "new": a job that must not exist yet, so two first requests don't both start one.
  const lease = await Lease.take(started, existing?.etag ?? "new", putJob, deps, budgetMs);
  taken = true;
  try {
    const end = await walkCatalog(
      deps,
      envId,
      lease,
      { pageSize, concurrency, endsTheJob: true },
      (r) => applyToResource(deps, jobs, caller, env, lease.row, r.resourceId),
      async (job, page) => ({
        ...job,
        pagesDone: job.pagesDone + 1,
        resourcesScanned: job.resourcesScanned + page.resources.length,
        updatedAt: deps.clock().toISOString(),
        ...(page.continuation ? {} : { status: "done" as const, finishedAt: deps.clock().toISOString() }),
      }),
    );
    if (end === "outOfTime") {
      deps.log(
        `reassignment ${lease.row.runId} in ${envId}: time budget used after ${lease.row.resourcesScanned} resources; it continues when the request is posted again`,
      );
    }
  } catch (e) {
    // Let a re-post continue at once instead of waiting for the lease to run out.
    if (lease.row.status === "running") await lease.release().catch(() => undefined);
    throw e;
  }
  const job = lease.row;
  const items = await jobs.items(envId, job.runId);
  return summarize(envId, job.status, job.runId, items, req, job.resourcesScanned);
}

async function requireReassigner(deps: Deps, caller: Caller, envId: string): Promise<void> {
  await requireEnvironmentAdmin(deps, caller, envId, {
    refusal: "reassigning records needs the environment's SystemAdministrator role or the Sharing.Admin app role",
  });
}

/** The target must be able to own what it receives (seed 000); otherwise nothing is reassigned and the error says why. */
async function requireTarget(deps: Deps, envId: string, req: ReassignRequest): Promise<void> {
  if (req.fromUserId === req.toUserId)
    throw invalid("a user's records can't be reassigned to that same user", [
      { field: "body.toUserId", message: "must differ from fromUserId" },
    ]);
  const target = await deps.repo.principalContext(envId, req.toUserId);
  if (!target.user)
    throw invalid("the target is not in the tenant directory", [
      { field: "body.toUserId", message: `unknown user ${req.toUserId}` },
    ]);
  if (!target.user.enabled)
    throw ruleViolation(`nothing was reassigned: the target ${req.toUserId} is disabled in the tenant directory`);
  if (!target.membership) {
    throw ruleViolation(
      `nothing was reassigned: the target ${req.toUserId} is not a member of environment ${envId}; add them with the EnvironmentMaker role first`,
    );
  }
  if (!target.membership.securityRoles.some((r) => ownerCapableRoles.includes(r))) {
    throw ruleViolation(
      `nothing was reassigned: the target ${req.toUserId} holds ${target.membership.securityRoles.join(", ") || "no security role"} in environment ${envId}, and owning processes and flows needs EnvironmentMaker or SystemAdministrator`,
    );
  }
}

/**
 * What reassignment does to one resource, from its current state. `recorded` is this run's own
 * result row, if any: a resource it already moved (owner now the target) is still reported as moved.
 */
export function planItem(
  state: ResourceState,
  req: Pick<ReassignRequest, "fromUserId" | "toUserId">,
  recorded: ReassignmentItem | undefined,
): ReassignmentItem {
  const r = state.resource;
  const connectionsToFix: ConnectionToFix[] = (r.kind === "cloudFlow" ? (r.connections ?? []) : [])
    .filter((c) => c.usage === "embedded" && c.ownerId === req.fromUserId)
    .map((c) => ({ resourceId: r.resourceId, connectionId: c.id, connector: c.connector, ownerId: c.ownerId }));
  const base = { resourceId: r.resourceId, kind: r.kind, displayName: r.displayName, connectionsToFix };
  const movable = r.kind !== "cloudFlow" || r.solutionAware === true;
  const creatorKeptAsOwner = r.kind === "cloudFlow" && r.creatorId === req.fromUserId;
  if (r.ownerId === req.fromUserId) {
    return movable ? { ...base, outcome: "reassigned", creatorKeptAsOwner } : { ...base, outcome: "needsCopy" };
  }
  if (recorded?.outcome === "reassigned" && r.ownerId === req.toUserId)
    return { ...base, outcome: "reassigned", creatorKeptAsOwner };
  return { ...base, outcome: "none" };
}

const isReportable = (i: ReassignmentItem) => i.outcome !== "none" || i.connectionsToFix.length > 0;

/**
 * One resource, in its own read-decide-write: the result row first (so a crash after it is reported
 * on resume), then the change under the meta row's ETag. Re-running it changes nothing more.
 */
async function applyToResource(
  deps: Deps,
  jobs: ReassignmentsRepository,
  caller: Caller,
  env: Environment,
  job: ReassignmentJob,
  resourceId: string,
): Promise<void> {
  const req = { fromUserId: job.fromUserId, toUserId: job.toUserId };
  let recorded: ReassignmentItem | undefined;
  let recordedRead = false;
  await changeResource(deps, async () => {
    const state = await deps.repo.resourceState(job.envId, resourceId);
    if (!recordedRead) {
      recorded = await jobs.getItem(job.envId, job.runId, resourceId);
      recordedRead = true;
    }
    if (!state) {
      if (recorded) await jobs.deleteItem(job.envId, job.runId, resourceId);
      return { result: undefined };
    }
    const item = planItem(state, req, recorded);
    if (!isReportable(item)) {
      if (recorded) await jobs.deleteItem(job.envId, job.runId, resourceId);
      return { result: undefined };
    }
    await jobs.putItem(job.envId, job.runId, item);
    recorded = item;
    if (item.outcome !== "reassigned" || state.resource.ownerId !== job.fromUserId) return { result: undefined };
    return {
      change: ownerChange(deps, caller, env, job, state, item.creatorKeptAsOwner === true),
      result: undefined,
    };
  });
}

/**
 * The new owner's side as every change of primary owner does it (`handOver`); the leaving user's
 * grant goes unless they created the flow. In a sensitive environment the admins' alert goes in the
 * same outbox, its id derived from the run and the resource, so a resumed run alerts nothing twice.
 */
function ownerChange(
  deps: Deps,
  caller: Caller,
  env: Environment,
  job: ReassignmentJob,
  state: ResourceState,
  creatorKept: boolean,
): ResourceChange {
  const r = state.resource;
  const now = deps.clock().toISOString();
  const handover = handOver(state, job.toUserId, caller.principalId, now);
  const leaverOwns = state.grants.some(
    (g) => g.principalType === "user" && g.principalId === job.fromUserId && g.role === "owner",
  );
  const deleteGrants = [
    ...handover.deleteGrants,
    ...(!creatorKept && leaverOwns
      ? [{ principal: { type: "user" as const, id: job.fromUserId }, role: "owner" as const }]
      : []),
  ];
  const entry = changeEntry(deps, {
    actorId: caller.principalId,
    action: "reassign",
    resourceId: r.resourceId,
    principal: { type: "user", id: job.toUserId },
    role: "owner",
    detail: `owner of ${r.kind} ${r.displayName} reassigned from ${job.fromUserId} to ${job.toUserId}${creatorKept ? `; ${job.fromUserId} created the flow and stays an owner` : ""} (reassignment ${job.runId})`,
  });
  const to = { type: "user" as const, id: job.toUserId };
  const emails: EmailJob[] = ownerAlertJobs(deps, env, r.resourceId, to, caller.principalId, now, {
    how: "reassignment",
    alertId: ownerAlertId("reassignment", job.runId, r.resourceId, job.toUserId, "owner"),
  });
  return {
    etag: state.etag,
    resource: handover.resource,
    putGrants: handover.putGrants,
    deleteGrants,
    changes: [entry],
    outbox: outboxItems(deps, [
      {
        type: "index",
        envId: r.envId,
        resourceId: r.resourceId,
        principals: [
          { type: "user", id: job.fromUserId },
          { type: "user", id: job.toUserId },
        ],
      },
      { type: "catalog", envId: r.envId, resourceId: r.resourceId },
      { type: "log", envId: r.envId, entries: [entry] },
      ...(emails.length > 0 ? [{ type: "email" as const, jobs: emails }] : []),
    ]),
  };
}

function summarize(
  envId: string,
  status: ReassignResult["status"],
  jobId: string | undefined,
  items: ReassignmentItem[],
  req: ReassignRequest,
  scanned: number,
): ReassignResult {
  const sorted = [...items].sort((a, b) => (a.resourceId < b.resourceId ? -1 : a.resourceId > b.resourceId ? 1 : 0));
  return {
    status,
    ...(jobId ? { jobId } : {}),
    reassigned: sorted
      .filter((i) => i.outcome === "reassigned")
      .map((i) => ({
        resourceId: i.resourceId,
        kind: i.kind,
        displayName: i.displayName,
        fromUserId: req.fromUserId,
        toUserId: req.toUserId,
        creatorKeptAsOwner: i.creatorKeptAsOwner === true,
      })),
    needsCopy: sorted
      .filter((i) => i.outcome === "needsCopy")
      .map((i) => ({
        resourceId: i.resourceId,
        kind: i.kind,
        displayName: i.displayName,
        reason:
          "the flow is not solution-aware: its owner is part of its identity, so the new owner needs a copy (send a copy, or save as)",
      })),
    connectionsToFix: sorted.flatMap((i) => i.connectionsToFix.map((c) => withResolveRoute(envId, c))),
    resourcesScanned: scanned,
  };
}
