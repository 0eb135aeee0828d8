import { z } from "zod";
import { ConcurrencyError, conflict, invalid, notFound, ruleViolation } from "../errors.js";
import type { EmailJob } from "../model/emailJobs.js";
import type { FanoutMessage } from "../model/fanout.js";
import type { OffboardingItem, OffboardingJob, OffboardingTrigger } from "../model/offboardings.js";
import type { ConnectionToFix } from "../model/reassignments.js";
import type { ChangeEntry, Environment, Grant, PrincipalRef } from "../model/records.js";
import type { Role } from "../rules/matrix.js";
import { chooseSuccessor, coOwnersByTenure, ownerChangesInPlace } from "../rules/successor.js";
import { decodePageToken, encodePageToken } from "../store/pageToken.js";
import type { ResourceChange, ResourceState } from "../store/repository.js";
import { requireEnvironmentAdmin } from "./adminGate.js";
import { systemActor, type Capabilities, type Caller } from "./capabilities.js";
import { forEachLimit, Lease, leaseHeld, walkPages, type PutRow } from "./catalogWalk.js";
import { changeEntry, changeResource, outboxItems } from "./mutate.js";
import { offboardMessage, type LeaverReason } from "./offboardingTrigger.js";
import { withResolveRoute } from "./connections.js";
import { cannotOwnBecause, handOver, ownerAlertId, ownerAlertJobs } from "./primaryOwner.js";
import { startClaim, withClaim } from "./claims.js";
import { principalKey, rolesOf, sendEvents, type Known } from "./relay.js";

export { leaverDetected, offboardMessage, type LeaverReason } from "./offboardingTrigger.js";

type Deps = Pick<
  Capabilities,
  "repo" | "offboardings" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock"
>;

export interface OffboardRequest {
  userId: string;
  successorId?: string | undefined;
  dryRun: boolean;
}

export interface OffboardOptions {
  /** Stop after the page during which this much time has passed; the run continues when the request is posted again. */
  budgetMs?: number;
  /** Index rows a page (tests use small pages to cross page boundaries). */
  pageSize?: number;
  /** Resources changed at once within a page. */
  concurrency?: number;
}

export interface OffboardResult {
  /** The run's id: absent for a dry run of a user with no run going. */
  offboardingId?: string | undefined;
  /** "done": every grant was walked; "running": time ran out, post the same request again; "dryRun": nothing changed. */
  status: "done" | "running" | "dryRun";
  userId: string;
  revoked: { resourceId: string; kind: OffboardingItem["kind"]; role: Role }[];
  transferred: { resourceId: string; kind: OffboardingItem["kind"]; to: string; via: string }[];
  ownerless: { resourceId: string; kind: OffboardingItem["kind"]; displayName: string }[];
  needsCopy: { resourceId: string; kind: OffboardingItem["kind"]; displayName: string; reason: string }[];
  /** Each with `resolveWith`, the route by which an owner takes the connection over (contract v2). */
  connectionsToFix: (ConnectionToFix & { resolveWith: string })[];
  resourcesVisited: number;
  /** More results than one answer holds: page through `GET .../offboardings/{offboardingId}`. */
  truncated?: boolean;
}

const defaultBudgetMs = 100_000;
/** Result rows one POST answer lists; the GET pages through the rest. */
const maxListed = 1000;
const needsCopyReason =
  "the flow is not solution-aware: its owner is part of its identity, so a successor needs a copy (send a copy, or save as)";

/**
 * `POST /api/environments/{envId}/offboardings` (environment admins, Sharing.Admin): offboards a
 * leaver (sharing-rules.md, "Owners never vanish"). A named successor must be able to own (422
 * otherwise, nothing done), as a reassignment's target must.
 */
export async function offboard(
  deps: Deps,
  caller: Caller,
  envId: string,
  req: OffboardRequest,
  options: OffboardOptions = {},
): Promise<OffboardResult> {
  const { environment } = await requireEnvironmentAdmin(deps, caller, envId, {
    refusal: "offboarding a user needs the environment's SystemAdministrator role or the Sharing.Admin app role",
  });
  await requireSuccessor(deps, envId, req);
  return runOffboarding(deps, environment, caller.principalId, { ...req, trigger: "request" }, options);
}

async function requireSuccessor(deps: Deps, envId: string, req: OffboardRequest): Promise<void> {
  if (req.successorId === undefined) return;
  if (req.successorId === req.userId)
    throw invalid("a leaver can't be their own successor", [
      { field: "body.successorId", message: "must differ from userId" },
    ]);
  const ctx = await deps.repo.principalContext(envId, req.successorId);
  if (!ctx.user)
    throw invalid("the successor is not in the tenant directory", [
      { field: "body.successorId", message: `unknown user ${req.successorId}` },
    ]);
  const why = cannotOwnBecause(ctx.user, ctx.membership, envId);
  if (why) throw ruleViolation(`nothing was offboarded: the successor ${req.successorId} ${why}`);
}

interface RunRequest extends OffboardRequest {
  trigger: OffboardingTrigger;
  /** Automatic runs continue whatever run of the user is going, whoever named its successor. */
  adopt?: boolean;
  /** Only this run is continued (a re-sent queue message); nothing starts. */
  onlyRun?: string | undefined;
}

/**
 * Starts or continues the user's run. The walk follows the leaver's own index rows in the
 * environment (`env|{envId}|res|{R}|direct` in their Principals partition), so its cost follows their
 * grants, not the tenant; each resource is then decided from its real grant rows, in its own
 * ETag-guarded transaction (`changeResource`, as a revoke or a reassignment is). Progress is
 * recorded page by page under a lease, so an interrupted run continues where it stopped.
 */
async function runOffboarding(
  deps: Deps,
  env: Environment,
  actorId: string,
  req: RunRequest,
  options: OffboardOptions,
): Promise<OffboardResult> {
  const store = deps.offboardings;
  const envId = env.envId;
  const pageSize = options.pageSize ?? 100;
  const concurrency = options.concurrency ?? 8;
  const budgetMs = options.budgetMs ?? defaultBudgetMs;
  const pointer = await store.current(envId, req.userId);
  const found = pointer ? await store.getJob(envId, pointer.offboardingId) : undefined;
  // A pointer without its job row: a crash between the two writes; the run starts under that id.
  const resuming =
    pointer && (!found || found.job.status === "running")
      ? (found?.job ?? newJob(deps, env, actorId, req, pointer.offboardingId))
      : undefined;
  if (resuming && !req.adopt && resuming.successorId !== req.successorId) {
    throw conflict(
      `an offboarding of ${req.userId} (${resuming.offboardingId}) is running ${resuming.successorId ? `with successor ${resuming.successorId}` : "with the environment's successor chain"}; post it with the same successor to continue it`,
    );
  }
  if (req.onlyRun && resuming?.offboardingId !== req.onlyRun) {
    return emptyResult(req.onlyRun, "done", req.userId);
  }

  if (req.dryRun) return dryRun(deps, env, req, resuming, pageSize, concurrency);

  const now = deps.clock();
  if (resuming && leaseHeld(resuming, now)) {
    throw conflict(
      `the offboarding ${resuming.offboardingId} of ${req.userId} is already running; post the same request again after ${resuming.leaseUntil} to continue it`,
    );
  }
  let job: OffboardingJob;
  let etag: string;
  if (resuming) {
    job = { ...resuming, updatedAt: now.toISOString() };
    etag = found && found.job.status === "running" ? found.etag : "new";
  } else {
    job = newJob(deps, env, actorId, req, deps.newId());
    etag = "new";
    // The pointer first: of two first requests only one moves it, and the other answers 409.
    await store.putCurrent(envId, req.userId, job.offboardingId, pointer?.etag ?? "new").catch((e: unknown) => {
      if (e instanceof ConcurrencyError)
        throw conflict(`another request started an offboarding of ${req.userId} at the same moment; post it again`);
      throw e;
    });
  }
  const putJob: PutRow<OffboardingJob> = (row, tag) =>
    store.putJob(row, tag).catch((e: unknown) => {
      if (e instanceof ConcurrencyError)
        throw conflict(`another request took the offboarding of ${req.userId} over; post the same request again`);
      throw e;
    });
  const lease = await Lease.take(job, etag, putJob, deps, budgetMs);
  const memo = new Map<string, Promise<boolean>>();
  const canOwn = (id: string) => {
    let p = memo.get(id);
    if (!p) memo.set(id, (p = canOwnIn(deps, envId, id)));
    return p;
  };
  try {
    const end = await walkPages(
      lease,
      leaverPages(deps, envId, req.userId, lease.row.cursor, pageSize),
      true,
      async (row, page) => {
        await forEachLimit(page.resourceIds, concurrency, (resourceId) =>
          applyToResource(deps, env, row, resourceId, canOwn),
        );
        const next: OffboardingJob = {
          ...row,
          pagesDone: row.pagesDone + 1,
          resourcesVisited: row.resourcesVisited + page.resourceIds.length,
          updatedAt: deps.clock().toISOString(),
        };
        if (page.cursor !== undefined) return next;
        // The last page: the finish time is kept on the row before the summary entry is written, so a
        // run resumed after a crash here writes that same entry again (same key), never a second one.
        const finishedAt = row.finishedAt ?? deps.clock().toISOString();
        if (!row.finishedAt) await lease.save({ ...lease.row, finishedAt });
        const done = { ...next, finishedAt };
        await writeSummary(deps, done);
        return { ...done, status: "done" as const };
      },
    );
    if (end === "outOfTime")
      deps.log(
        `offboarding ${lease.row.offboardingId} of ${req.userId} in ${envId}: time budget used after ${lease.row.resourcesVisited} resources; it continues when posted again`,
      );
  } catch (e) {
    if (lease.row.status === "running") await lease.release().catch(() => undefined);
    throw e;
  }
  return summarize(deps, lease.row);
}

function newJob(
  deps: Pick<Deps, "clock">,
  env: Environment,
  actorId: string,
  req: RunRequest,
  offboardingId: string,
): OffboardingJob {
  const now = deps.clock().toISOString();
  return {
    envId: env.envId,
    userId: req.userId,
    offboardingId,
    status: "running",
    trigger: req.trigger,
    ...(req.successorId ? { successorId: req.successorId } : {}),
    actorId,
    pagesDone: 0,
    resourcesVisited: 0,
    startedAt: now,
    updatedAt: now,
  };
}

/** Whether a user can be a primary owner in the environment (enabled, not a guest, a member with a maker role). */
async function canOwnIn(deps: Pick<Deps, "repo">, envId: string, userId: string): Promise<boolean> {
  const [user, membership] = await Promise.all([deps.repo.getUser(userId), deps.repo.getMembership(envId, userId)]);
  return cannotOwnBecause(user, membership, envId) === undefined;
}

/**
 * The leaver's own index rows in the environment, a page at a time: the resources they hold a role
 * on directly (rows through groups are the groups' grants, not theirs). Each page carries where to
 * resume after it. Rows the relay deletes behind the walk (the revokes) don't move what is ahead.
 */
async function* leaverPages(
  deps: Pick<Deps, "repo">,
  envId: string,
  userId: string,
  cursor: string | undefined,
  pageSize: number,
): AsyncGenerator<{ resourceIds: string[]; cursor: string | undefined }> {
  do {
    const page = await deps.repo.index.ownPage(envId, { type: "user", id: userId }, cursor, pageSize);
    yield { resourceIds: [...new Set(page.entries.map((e) => e.resourceId))], cursor: page.continuation };
    cursor = page.continuation;
  } while (cursor);
}

/** Whether the leaver still holds anything in the environment, by their own index rows (one query). */
async function holdsAnything(deps: Pick<Deps, "repo">, envId: string, userId: string): Promise<boolean> {
  for await (const page of leaverPages(deps, envId, userId, undefined, 20))
    if (page.resourceIds.length > 0) return true;
  return false;
}

/**
 * What offboarding does to one resource, from its real grant rows: every grant of the leaver goes;
 * a resource they own as primary owner passes to the successor chain, stays with them as `ownerless`
 * when the chain gives nobody, or is listed as needing a copy (a non-solution-aware flow). Embedded
 * connections they back are listed. Undefined when they hold nothing there and don't own it.
 */
export async function planResource(
  state: ResourceState,
  leaverId: string,
  chain: { namedId?: string | undefined; defaultSuccessorId?: string | undefined },
  canOwn: (userId: string) => Promise<boolean>,
): Promise<OffboardingItem | undefined> {
  const r = state.resource;
  const revoked = rolesOf(state.grants, { type: "user", id: leaverId });
  const connectionsToFix: ConnectionToFix[] = (r.kind === "cloudFlow" ? (r.connections ?? []) : [])
    .filter((c) => c.usage === "embedded" && c.ownerId === leaverId)
    .map((c) => ({ resourceId: r.resourceId, connectionId: c.id, connector: c.connector, ownerId: c.ownerId }));
  const base = { resourceId: r.resourceId, kind: r.kind, displayName: r.displayName, revoked, connectionsToFix };
  if (r.ownerId !== leaverId) return revoked.length > 0 ? { ...base, outcome: "revoked" } : undefined;
  if (revoked.length === 0) return undefined; // already offboarded, left ownerless: nothing more to do here
  if (!ownerChangesInPlace(r)) return { ...base, outcome: "needsCopy" };
  const successor = await chooseSuccessor(
    {
      leaverId,
      namedId: chain.namedId,
      coOwners: coOwnersByTenure(r, state.grants, leaverId),
      defaultSuccessorId: chain.defaultSuccessorId,
    },
    canOwn,
  );
  return successor ? { ...base, outcome: "transferred", ...successor } : { ...base, outcome: "ownerless" };
}

/**
 * One resource, in its own read-decide-write: the result row first (so a crash after it is reported
 * on resume), then the change under the meta row's ETag. A resource this run already changed holds no
 * grant of the leaver any more: its recorded row stands and nothing more is written.
 */
async function applyToResource(
  deps: Deps,
  env: Environment,
  job: OffboardingJob,
  resourceId: string,
  canOwn: (userId: string) => Promise<boolean>,
): Promise<void> {
  const store = deps.offboardings;
  await changeResource(deps, async () => {
    const state = await deps.repo.resourceState(job.envId, resourceId);
    if (!state) return { result: undefined };
    const item = await planResource(
      state,
      job.userId,
      { namedId: job.successorId, defaultSuccessorId: env.defaultSuccessorId },
      canOwn,
    );
    if (!item) return { result: undefined };
    await store.putItem(job.envId, job.offboardingId, item);
    const planned = offboardChange(deps, env, job, state, item);
    if (item.outcome !== "ownerless") return { ...planned, result: undefined };
    // Ownerless: its claim starts in the same transaction (docs/claims.md).
    const start = await startClaim(deps, env, state, job.userId, "offboarding");
    return { ...planned, change: withClaim(deps, planned.change, start), result: undefined };
  });
}

/**
 * The resource's transaction: the leaver's grants deleted; for a transfer, the successor's owner grant
 * and the meta row's `ownerId` together (the successor's co-owner grant, which owning supersedes,
 * goes); the change entries; and through the outbox the index rows, the catalog, the log, the
 * new owner's email and, in a sensitive environment, the admins' alert.
 */
function offboardChange(
  deps: Deps,
  env: Environment,
  job: OffboardingJob,
  state: ResourceState,
  item: OffboardingItem,
): { change: ResourceChange; known: Known } {
  const r = state.resource;
  const now = deps.clock().toISOString();
  const leaver: PrincipalRef = { type: "user", id: job.userId };
  const deleteGrants: NonNullable<ResourceChange["deleteGrants"]> = item.revoked.map((role) => ({
    principal: leaver,
    role,
  }));
  const putGrants: Grant[] = [];
  const changes: ChangeEntry[] = [
    changeEntry(deps, {
      actorId: job.actorId,
      action: "offboard",
      resourceId: r.resourceId,
      principal: leaver,
      detail: `offboarding ${job.offboardingId}: revoked ${item.revoked.join(", ")} of ${job.userId} on ${r.kind} ${r.displayName}${item.outcome === "ownerless" ? "; no successor could own it: it is ownerless" : item.outcome === "needsCopy" ? "; a non-solution-aware flow: a successor needs a copy" : ""}${item.connectionsToFix.length ? `; ${item.connectionsToFix.length} embedded connection(s) need new credentials` : ""}`,
    }),
  ];
  const jobs: EmailJob[] = [];
  const principals: PrincipalRef[] = [leaver];
  const roles = new Map<string, Role[]>([[principalKey(leaver), []]]);
  let resource = { ...r, updatedAt: now };
  if (item.outcome === "transferred" && item.to) {
    const to: PrincipalRef = { type: "user", id: item.to };
    const handover = handOver(state, item.to, job.actorId, now);
    putGrants.push(...handover.putGrants);
    deleteGrants.push(...handover.deleteGrants);
    resource = handover.resource;
    principals.push(to);
    roles.set(principalKey(to), handover.newOwnerRoles);
    changes.push(
      changeEntry(deps, {
        actorId: job.actorId,
        action: "offboard",
        resourceId: r.resourceId,
        principal: to,
        role: "owner",
        detail: `offboarding ${job.offboardingId}: ${item.to} is now primary owner of ${r.kind} ${r.displayName} in place of ${job.userId} (${item.via === "named" ? "named successor" : item.via === "coOwner" ? "longest-standing co-owner" : "the environment's default successor"})`,
      }),
    );
    jobs.push({
      kind: "newOwner",
      envId: env.envId,
      resourceId: r.resourceId,
      offboardingId: job.offboardingId,
      fromUserId: job.userId,
      toUserId: item.to,
    });
    // Offboarding gives no co-owner grants (a successor's is superseded by owning): the owner alert is its one.
    jobs.push(
      ...ownerAlertJobs(deps, env, r.resourceId, to, job.actorId, now, {
        how: "offboarding",
        alertId: ownerAlertId("offboarding", job.offboardingId, r.resourceId, item.to, "owner"),
      }),
    );
  }
  return {
    change: {
      etag: state.etag,
      resource,
      putGrants,
      deleteGrants,
      changes,
      outbox: outboxItems(deps, [
        { type: "index", envId: env.envId, resourceId: r.resourceId, principals },
        ...(resource.ownerId !== r.ownerId
          ? [{ type: "catalog" as const, envId: env.envId, resourceId: r.resourceId }]
          : []),
        { type: "log", envId: env.envId, entries: changes },
        ...(jobs.length > 0 ? [{ type: "email" as const, jobs }] : []),
      ]),
    },
    known: { resource, roles },
  };
}

/** Every result row of a run, a page at a time. */
async function* allItems(deps: Pick<Deps, "offboardings">, envId: string, offboardingId: string) {
  let continuation: string | undefined;
  do {
    const page = await deps.offboardings.itemsPage(envId, offboardingId, continuation, 1000);
    yield* page.items;
    continuation = page.continuation;
  } while (continuation);
}

/** The run's one summary entry in the environment's change log, keyed by the run so writing it again changes nothing. */
async function writeSummary(deps: Deps, job: OffboardingJob): Promise<void> {
  const n = { resources: 0, grants: 0, transferred: 0, ownerless: 0, needsCopy: 0, connections: 0 };
  for await (const i of allItems(deps, job.envId, job.offboardingId)) {
    n.resources++;
    n.grants += i.revoked.length;
    if (i.outcome === "transferred") n.transferred++;
    if (i.outcome === "ownerless") n.ownerless++;
    if (i.outcome === "needsCopy") n.needsCopy++;
    n.connections += i.connectionsToFix.length;
  }
  const entry: ChangeEntry = {
    changeId: `offboarding.${job.offboardingId}`.slice(0, 80),
    at: job.finishedAt ?? deps.clock().toISOString(),
    actorId: job.actorId,
    action: "offboard",
    principal: { type: "user", id: job.userId },
    detail: `offboarding ${job.offboardingId} of ${job.userId} done (${job.trigger === "request" ? "requested" : `automatic: ${job.trigger}`}): ${n.grants} grant(s) revoked on ${n.resources} resource(s), ${n.transferred} transferred, ${n.ownerless} ownerless, ${n.needsCopy} need a copy, ${n.connections} connection(s) to fix`,
  };
  // Its event goes with it, as the relay sends a change's: a run resumed after a crash here sends
  // both again, the same entry and the same event id, which the delivery rows drop.
  await Promise.all([deps.repo.putEnvironmentChange(job.envId, entry), sendEvents(deps, job.envId, [entry])]);
}

function emptyResult(
  offboardingId: string | undefined,
  status: OffboardResult["status"],
  userId: string,
): OffboardResult {
  return {
    ...(offboardingId ? { offboardingId } : {}),
    status,
    userId,
    revoked: [],
    transferred: [],
    ownerless: [],
    needsCopy: [],
    connectionsToFix: [],
    resourcesVisited: 0,
  };
}

/** The lists of a POST answer from result rows (at most `maxListed`). */
function listed(envId: string, base: OffboardResult, items: OffboardingItem[]): OffboardResult {
  const sorted = [...items].sort((a, b) => (a.resourceId < b.resourceId ? -1 : a.resourceId > b.resourceId ? 1 : 0));
  return {
    ...base,
    revoked: sorted.flatMap((i) => i.revoked.map((role) => ({ resourceId: i.resourceId, kind: i.kind, role }))),
    transferred: sorted.flatMap((i) =>
      i.outcome === "transferred" && i.to
        ? [{ resourceId: i.resourceId, kind: i.kind, to: i.to, via: i.via ?? "named" }]
        : [],
    ),
    ownerless: sorted
      .filter((i) => i.outcome === "ownerless")
      .map((i) => ({ resourceId: i.resourceId, kind: i.kind, displayName: i.displayName })),
    needsCopy: sorted
      .filter((i) => i.outcome === "needsCopy")
      .map((i) => ({ resourceId: i.resourceId, kind: i.kind, displayName: i.displayName, reason: needsCopyReason })),
    connectionsToFix: sorted.flatMap((i) => i.connectionsToFix.map((c) => withResolveRoute(envId, c))),
  };
}

async function summarize(deps: Pick<Deps, "offboardings">, job: OffboardingJob): Promise<OffboardResult> {
  const page = await deps.offboardings.itemsPage(job.envId, job.offboardingId, undefined, maxListed);
  return {
    ...listed(
      job.envId,
      { ...emptyResult(job.offboardingId, job.status, job.userId), resourcesVisited: job.resourcesVisited },
      page.items,
    ),
    ...(page.continuation ? { truncated: true } : {}),
  };
}

/**
 * What a real run would do now, changing nothing: a running job's results so far, then the rest of
 * the leaver's index rows from its cursor, each resource planned from its real grant rows.
 */
async function dryRun(
  deps: Deps,
  env: Environment,
  req: RunRequest,
  resuming: OffboardingJob | undefined,
  pageSize: number,
  concurrency: number,
): Promise<OffboardResult> {
  const items = new Map<string, OffboardingItem>();
  if (resuming) for await (const i of allItems(deps, env.envId, resuming.offboardingId)) items.set(i.resourceId, i);
  const memo = new Map<string, Promise<boolean>>();
  const canOwn = (id: string) => {
    let p = memo.get(id);
    if (!p) memo.set(id, (p = canOwnIn(deps, env.envId, id)));
    return p;
  };
  const chain = { namedId: resuming?.successorId ?? req.successorId, defaultSuccessorId: env.defaultSuccessorId };
  let visited = resuming?.resourcesVisited ?? 0;
  for await (const page of leaverPages(deps, env.envId, req.userId, resuming?.cursor, pageSize)) {
    await forEachLimit(page.resourceIds, concurrency, async (resourceId) => {
      const state = await deps.repo.resourceState(env.envId, resourceId);
      const item = state ? await planResource(state, req.userId, chain, canOwn) : undefined;
      if (item) items.set(resourceId, item);
    });
    visited += page.resourceIds.length;
  }
  const all = [...items.values()];
  const result = listed(
    env.envId,
    { ...emptyResult(resuming?.offboardingId, "dryRun", req.userId), resourcesVisited: visited },
    all.slice(0, maxListed),
  );
  return all.length > maxListed ? { ...result, truncated: true } : result;
}

export interface OffboardingView {
  offboardingId: string;
  envId: string;
  userId: string;
  status: OffboardingJob["status"];
  trigger: OffboardingTrigger;
  successorId?: string | undefined;
  actorId: string;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string | undefined;
  resourcesVisited: number;
  /** Each connection to fix with `resolveWith`, the route by which an owner takes it over (contract v2). */
  items: (OffboardingItem & { connectionsToFix: (ConnectionToFix & { resolveWith: string })[] })[];
  continuationToken?: string | undefined;
}

/** `GET .../offboardings/{offboardingId}`: the run's state and a page of its result rows, in resource order. */
export async function getOffboarding(
  deps: Pick<Deps, "repo" | "offboardings">,
  caller: Caller,
  envId: string,
  offboardingId: string,
  q: { continuationToken?: string | undefined; top?: number | undefined },
): Promise<OffboardingView> {
  await requireEnvironmentAdmin(deps, caller, envId);
  const found = await deps.offboardings.getJob(envId, offboardingId);
  if (!found) throw notFound(`offboarding ${offboardingId} was not found in environment ${envId}`);
  const continuation = q.continuationToken === undefined ? undefined : decodeItemsToken(q.continuationToken);
  const page = await deps.offboardings.itemsPage(envId, offboardingId, continuation, q.top ?? 100);
  const j = found.job;
  return {
    offboardingId,
    envId,
    userId: j.userId,
    status: j.status,
    trigger: j.trigger,
    ...(j.successorId ? { successorId: j.successorId } : {}),
    actorId: j.actorId,
    startedAt: j.startedAt,
    updatedAt: j.updatedAt,
    ...(j.status === "done" && j.finishedAt ? { finishedAt: j.finishedAt } : {}),
    resourcesVisited: j.resourcesVisited,
    items: page.items.map((i) => ({
      ...i,
      connectionsToFix: i.connectionsToFix.map((c) => withResolveRoute(envId, c)),
    })),
    ...(page.continuation ? { continuationToken: encodeItemsToken(page.continuation) } : {}),
  };
}

const itemsTokenSchema = z.object({ offboardingItems: z.string().min(1).max(4000) });
const encodeItemsToken = (c: string) => encodePageToken({ offboardingItems: c });
const decodeItemsToken = (token: string) => decodePageToken(itemsTokenSchema, token).offboardingItems;

/** How long one queue message's step of an automatic run may take before it sends itself on. */
const automaticBudgetMs = 60_000;

/**
 * One step of an automatic offboarding (the `offboard` fan-out message, `shared/usecases/fanout.ts`):
 * in an environment that still has `autoOffboard`, for a user who is still a leaver, runs (or
 * continues) their offboarding with the environment's successor chain for a time budget, then sends
 * the message again, naming the run, until it is done. A message that finds nothing left to do
 * starts nothing, so a duplicate is harmless; one that finds the run held by another runner throws,
 * and the queue retries it later.
 */
export async function offboardStep(
  deps: Deps,
  m: Extract<FanoutMessage, { type: "offboard" }>,
  options: OffboardOptions = {},
): Promise<string> {
  const env = await deps.repo.getEnvironment(m.envId);
  if (env?.autoOffboard !== true) return `${m.envId} doesn't offboard by itself; the audit flags ${m.userId}`;
  if (!m.offboardingId) {
    const why = await stillLeft(deps, m.envId, m.userId, m.reason);
    if (!why) return `${m.userId} is no longer a leaver in ${m.envId}; nothing to offboard`;
    const pointer = await deps.offboardings.current(m.envId, m.userId);
    const job = pointer && (await deps.offboardings.getJob(m.envId, pointer.offboardingId));
    const running = job ? job.job.status === "running" : pointer !== undefined;
    if (!running && !(await holdsAnything(deps, m.envId, m.userId)))
      return `${m.userId} holds nothing in ${m.envId}; nothing to offboard`;
  }
  const r = await runOffboarding(
    deps,
    env,
    systemActor,
    { userId: m.userId, dryRun: false, trigger: m.reason, adopt: true, onlyRun: m.offboardingId },
    { budgetMs: automaticBudgetMs, ...options },
  );
  if (r.status === "running" && r.offboardingId)
    await deps.fanoutQueue.send({ ...offboardMessage(m.envId, m.userId, m.reason), offboardingId: r.offboardingId });
  return `offboarding ${r.offboardingId ?? "-"} of ${m.userId} in ${m.envId}: ${r.status}`;
}

/** Whether the user is still a leaver in the environment, for the reason given (a restore or a re-add cancels it). */
async function stillLeft(
  deps: Pick<Deps, "repo">,
  envId: string,
  userId: string,
  reason: LeaverReason,
): Promise<boolean> {
  const [user, membership] = await Promise.all([deps.repo.getUser(userId), deps.repo.getMembership(envId, userId)]);
  if (reason === "deactivated") return membership?.suspended === true;
  return reason === "disabled" ? user?.enabled !== true : membership === undefined;
}
