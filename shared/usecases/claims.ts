import {
  defaultClaimDays,
  maxClaimCandidates,
  type Claim,
  type ClaimCandidate,
  type ClaimDue,
} from "../model/claims.js";
import type { EmailJob } from "../model/emailJobs.js";
import type { Environment, Grant, PrincipalRef, Resource } from "../model/records.js";
import { resourcePageUrl, type InvitationSettings } from "../invitations/links.js";
import { verifyClaimToken } from "../claims/token.js";
import type { Role } from "../rules/matrix.js";
import { ClaimRows } from "../store/claimRows.js";
import type { ResourceChange, ResourceState } from "../store/repository.js";
import type { Capabilities } from "./capabilities.js";
import { changeEntry, changeResource, outboxItems } from "./mutate.js";
import { cannotOwnBecause, handOver, ownerAlertId, ownerAlertJobs } from "./primaryOwner.js";
import { principalKey, rolesOf } from "./relay.js";

/**
 * Ownership claims (sharing-rules.md, "Owners never vanish"; docs/claims.md): a resource left with
 * no enabled owner and no successor offers its ownership to up to 10 of its co-owners and
 * contributors by signed link; the first to accept becomes primary owner, under the resource's
 * ETag; after `claimDays` with no claim the environment admins are emailed.
 */

type Deps = Pick<Capabilities, "repo" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock">;
export type ClaimDeps = Deps & { invitations: InvitationSettings };

/** The grants that make someone a candidate: co-owners (a flow's other owners) and contributors. */
const candidateRoles: readonly Role[] = ["owner", "coOwner", "contributor"];
/** How long a claim link works, from the claim's start: past the deadline too, since the admins may point people at it. */
export const claimLinkDays = 90;
const dayMs = 86_400_000;

/** Whether the primary owner's place is vacant: no owner grant of `ownerId` (the audit's `ownerlessResource`). */
export function isOwnerless(state: Pick<ResourceState, "resource" | "grants">): boolean {
  const r = state.resource;
  return !state.grants.some((g) => g.principalType === "user" && g.principalId === r.ownerId && g.role === "owner");
}

/**
 * The users who may be offered the claim, most recently granted first, one entry each (their most
 * recent candidate grant): users holding owner (not the vacant owner), co-owner or contributor.
 */
export function candidateOrder(resource: Pick<Resource, "ownerId">, grants: readonly Grant[]): ClaimCandidate[] {
  const latest = new Map<string, ClaimCandidate>();
  for (const g of grants) {
    if (g.principalType !== "user" || g.principalId === resource.ownerId || !candidateRoles.includes(g.role)) continue;
    const seen = latest.get(g.principalId);
    if (!seen || g.grantedAt > seen.grantedAt)
      latest.set(g.principalId, { userId: g.principalId, role: g.role, grantedAt: g.grantedAt });
  }
  return [...latest.values()].sort((a, b) =>
    a.grantedAt !== b.grantedAt ? (a.grantedAt < b.grantedAt ? 1 : -1) : a.userId < b.userId ? -1 : 1,
  );
}

/**
 * The first `maxClaimCandidates` of the ordered users who are enabled and not guests (guests can
 * never be primary owners). Whether they can own (a maker role) is checked when they claim, and the
 * page says what is missing: the successor chain already passed over every co-owner who could, so
 * an admin giving a candidate the role is how such a resource finds an owner. Checked ten at a
 * time, so a resource with many grants costs reads only until ten are found.
 */
export async function pickCandidates(
  ordered: readonly ClaimCandidate[],
  eligible: (userId: string) => Promise<boolean>,
): Promise<ClaimCandidate[]> {
  const picked: ClaimCandidate[] = [];
  for (let i = 0; i < ordered.length && picked.length < maxClaimCandidates; i += maxClaimCandidates) {
    const batch = ordered.slice(i, i + maxClaimCandidates);
    const ok = await Promise.all(batch.map((c) => eligible(c.userId)));
    batch.forEach((c, j) => {
      if (ok[j] && picked.length < maxClaimCandidates) picked.push(c);
    });
  }
  return picked;
}

/** Whether a user may be offered a claim: in the directory, enabled, not a guest (one profile read). */
export function candidateReader(deps: Pick<Deps, "repo">): (userId: string) => Promise<boolean> {
  return async (id) => {
    const user = await deps.repo.getUser(id);
    return user !== undefined && user.enabled && user.userType !== "guest";
  };
}

export interface ClaimStart {
  claim: Claim;
  /** One `claim` email job per candidate, to go in the resource's outbox. */
  jobs: EmailJob[];
}

/**
 * A new claim of an ownerless resource: its candidates, its deadline (`claimDays` ahead; at once
 * when nobody can claim, since waiting would only delay the admins), and its deadline row, written
 * here, before the caller commits the claim in the resource's transaction (a deadline row whose claim
 * never committed is dropped when it comes due).
 */
export async function startClaim(
  deps: Pick<Deps, "repo" | "newId" | "clock">,
  env: Pick<Environment, "envId" | "claimDays">,
  state: Pick<ResourceState, "resource" | "grants">,
  vacantOwnerId: string,
  origin: Claim["origin"],
): Promise<ClaimStart> {
  const r = state.resource;
  const candidates = await pickCandidates(
    candidateOrder({ ownerId: vacantOwnerId }, state.grants),
    candidateReader(deps),
  );
  const now = deps.clock();
  const days = env.claimDays ?? defaultClaimDays;
  const claim: Claim = {
    claimId: deps.newId(),
    envId: env.envId,
    resourceId: r.resourceId,
    status: "open",
    origin,
    vacantOwnerId,
    candidates,
    createdAt: now.toISOString(),
    deadline: new Date(now.getTime() + (candidates.length > 0 ? days * dayMs : 0)).toISOString(),
  };
  await new ClaimRows(deps.repo).putDue(dueOf(claim));
  return {
    claim,
    jobs: candidates.map((c) => ({
      kind: "claim" as const,
      envId: env.envId,
      resourceId: r.resourceId,
      claimId: claim.claimId,
      userId: c.userId,
    })),
  };
}

const dueOf = (c: Claim): ClaimDue => ({
  envId: c.envId,
  resourceId: c.resourceId,
  claimId: c.claimId,
  deadline: c.deadline,
});

/** A resource change with a claim started in it: the claim row and its candidates' email jobs. */
export function withClaim(
  deps: Pick<Deps, "newId" | "clock">,
  change: ResourceChange,
  start: ClaimStart,
): ResourceChange {
  return {
    ...change,
    putClaim: start.claim,
    outbox: [
      ...(change.outbox ?? []),
      ...(start.jobs.length > 0 ? outboxItems(deps, [{ type: "email", jobs: start.jobs }]) : []),
    ],
  };
}

/**
 * For resources the audit finds ownerless: starts a claim unless one is open already (so a repeated
 * audit, or a page walked twice, emails nobody twice). Ownerless resources the offboarding made
 * have theirs; this covers the others (left ownerless before claims existed, or by any other path).
 * Costs a point read per ownerless resource, and a claim's reads and one transaction when it starts.
 */
export async function startClaimIfNone(deps: Deps, env: Environment, resourceId: string): Promise<Claim | undefined> {
  const claims = new ClaimRows(deps.repo);
  return changeResource<Claim | undefined>(deps, async () => {
    const [state, existing] = await Promise.all([
      deps.repo.resourceState(env.envId, resourceId),
      claims.get(env.envId, resourceId),
    ]);
    if (!state || !isOwnerless(state)) return { result: undefined };
    if (existing?.status === "open" && existing.vacantOwnerId === state.resource.ownerId) return { result: undefined };
    const start = await startClaim(deps, env, state, state.resource.ownerId, "audit");
    return {
      change: withClaim(deps, { etag: state.etag, resource: state.resource }, start),
      result: start.claim,
    };
  });
}

/**
 * Why a claim link doesn't work: `invalid` (not a token we signed), `expired`, `ended` (a newer claim
 * replaced it, or the resource is gone), `claimed` (another candidate claimed it first, or it has an
 * owner again), `notEligible` (the candidate is no longer enabled, a maker, or holding their grant).
 */
export type ClaimRefusal =
  | { reason: "invalid" | "expired" | "ended" }
  | { reason: "claimed"; ownerName: string; resourceName: string }
  | { reason: "notEligible"; why: string; resourceName: string };

export interface ClaimPageModel {
  resource: Pick<Resource, "envId" | "resourceId" | "kind" | "displayName">;
  candidateName: string;
  vacantOwnerName: string;
  deadline: string;
  /** This candidate already claimed it: the page offers to open it. */
  claimedByYou: boolean;
}

export type ClaimOpened = { ok: true; page: ClaimPageModel } | ({ ok: false } & ClaimRefusal);
export type ClaimAccepted = { ok: true; location: string } | ({ ok: false } & ClaimRefusal);

type Checked =
  { ok: true; claim: Claim; state: ResourceState; userId: string; mine: boolean } | ({ ok: false } & ClaimRefusal);

const nameOf = async (deps: Pick<Deps, "repo">, userId: string) =>
  (await deps.repo.getUser(userId))?.displayName ?? userId;

/**
 * A link works when we signed it for this claim and candidate and it hasn't expired; against stored
 * state, when the claim is still the resource's, still open (or claimed by this very candidate), and
 * the candidate can still claim: enabled, a maker, and still holding a co-owner or contributor grant.
 */
async function checkToken(deps: ClaimDeps, token: string): Promise<Checked> {
  const verified = await verifyClaimToken(deps.invitations.signingKey, token, deps.clock());
  if (!verified.ok) return { ok: false, reason: verified.reason };
  const t = verified.claims;
  const me: PrincipalRef = { type: "user", id: t.userId };
  const [claim, state, ctx] = await Promise.all([
    new ClaimRows(deps.repo).get(t.envId, t.resourceId),
    deps.repo.resourceStateFor(t.envId, t.resourceId, [me]),
    deps.repo.principalContext(t.envId, t.userId),
  ]);
  if (!claim || !state || claim.claimId !== t.claimId) return { ok: false, reason: "ended" };
  if (!claim.candidates.some((c) => c.userId === t.userId)) return { ok: false, reason: "invalid" };
  const r = state.resource;
  if (claim.status === "claimed" && claim.claimedBy === t.userId)
    return { ok: true, claim, state, userId: t.userId, mine: true };
  if (claim.status === "claimed" || r.ownerId !== claim.vacantOwnerId || !isOwnerless(state))
    return {
      ok: false,
      reason: "claimed",
      ownerName: await nameOf(deps, claim.claimedBy ?? r.ownerId),
      resourceName: r.displayName,
    };
  const why = cannotOwnBecause(ctx.user, ctx.membership, t.envId);
  if (why)
    return {
      ok: false,
      reason: "notEligible",
      why: `you ${why
        .replace(/^is /, "are ")
        .replace(/^has /, "have ")
        .replace(/^holds /, "hold ")}`,
      resourceName: r.displayName,
    };
  if (!rolesOf(state.grants, me).some((x) => candidateRoles.includes(x)))
    return {
      ok: false,
      reason: "notEligible",
      why: "you no longer hold the co-owner or contributor role that made you a candidate",
      resourceName: r.displayName,
    };
  return { ok: true, claim, state, userId: t.userId, mine: false };
}

/** `GET /api/claims/{token}`: what the claim page shows. Reads only. */
export async function openClaim(deps: ClaimDeps, token: string): Promise<ClaimOpened> {
  const checked = await checkToken(deps, token);
  if (!checked.ok) return checked;
  const r = checked.state.resource;
  const [candidateName, vacantOwnerName] = await Promise.all([
    nameOf(deps, checked.userId),
    nameOf(deps, checked.claim.vacantOwnerId),
  ]);
  return {
    ok: true,
    page: {
      resource: { envId: r.envId, resourceId: r.resourceId, kind: r.kind, displayName: r.displayName },
      candidateName,
      vacantOwnerName,
      deadline: checked.claim.deadline,
      claimedByYou: checked.mine,
    },
  };
}

/**
 * `POST /api/claims/{token}/accept`: the candidate becomes primary owner (`handOver`: their owner
 * grant, the meta row's `ownerId`) and the claim is marked claimed, in one transaction under the
 * meta row's ETag, so of two racing candidates one commits and the other re-reads and is told who
 * won. Logged as `owner.claimed` (raising `sharing.owner.changed`); in a sensitive environment the
 * admins get the owner alert. Accepting again leads to the resource again.
 */
export async function acceptClaim(deps: ClaimDeps, token: string): Promise<ClaimAccepted> {
  return changeResource<ClaimAccepted>(deps, async () => {
    const checked = await checkToken(deps, token);
    if (!checked.ok) return { result: checked };
    const { claim, state, userId } = checked;
    const r = state.resource;
    if (checked.mine) return { result: { ok: true, location: resourcePageUrl(deps.invitations.appBaseUrl, r) } };
    const env = await deps.repo.getEnvironment(r.envId);
    const now = deps.clock().toISOString();
    const to: PrincipalRef = { type: "user", id: userId };
    const handover = handOver(state, userId, userId, now);
    const entry = changeEntry(deps, {
      actorId: userId,
      action: "owner.claimed",
      resourceId: r.resourceId,
      principal: to,
      role: "owner",
      detail: `${userId} claimed ${r.kind} ${r.displayName}, ownerless since ${claim.vacantOwnerId} left (claim ${claim.claimId}), and is now its primary owner`,
    });
    // One alert per claim won, whatever retries the accept takes.
    const jobs = env
      ? ownerAlertJobs(deps, env, r.resourceId, to, userId, now, {
          how: "claim",
          alertId: ownerAlertId("claim", claim.claimId, r.resourceId, userId, "owner"),
        })
      : [];
    return {
      change: {
        etag: state.etag,
        resource: handover.resource,
        putGrants: handover.putGrants,
        deleteGrants: handover.deleteGrants,
        changes: [entry],
        putClaim: { ...claim, status: "claimed", claimedBy: userId, claimedAt: now },
        outbox: outboxItems(deps, [
          { type: "index", envId: r.envId, resourceId: r.resourceId, principals: [to] },
          { type: "catalog", envId: r.envId, resourceId: r.resourceId },
          { type: "log", envId: r.envId, entries: [entry] },
          ...(jobs.length > 0 ? [{ type: "email" as const, jobs }] : []),
        ]),
      },
      result: { ok: true, location: resourcePageUrl(deps.invitations.appBaseUrl, handover.resource) },
      known: { resource: handover.resource, roles: new Map([[principalKey(to), handover.newOwnerRoles]]) },
    };
  });
}

export interface EscalationResult {
  /** Claims whose admins were emailed in this run. */
  escalated: number;
  /** Deadline rows dropped: their claim was claimed, replaced, or never committed. */
  dropped: number;
}

/**
 * The escalation timer's work: the deadline rows due at `now` (only those: they are keyed by
 * deadline), each checked against its claim. A claim still open gets one `claimEscalation` email
 * job, then its deadline row goes; a crash between the two sends the job again, which the mailer
 * drops by its operation id, so the admins are emailed once per claim however often this runs.
 */
export async function escalateDueClaims(
  deps: Pick<Deps, "repo" | "emailQueue" | "clock" | "log">,
  options: { now?: Date; budgetMs?: number; pageSize?: number } = {},
): Promise<EscalationResult> {
  const claims = new ClaimRows(deps.repo);
  const now = options.now ?? deps.clock();
  const started = Date.now();
  const result: EscalationResult = { escalated: 0, dropped: 0 };
  // Rows handled are deleted, so each page starts from the beginning of what is still due.
  for (;;) {
    const page = await claims.duePage(now, options.pageSize ?? 100);
    if (page.due.length === 0) return result;
    for (const due of page.due) {
      const [claim, meta] = await Promise.all([
        claims.get(due.envId, due.resourceId),
        deps.repo.rawResourceMeta(due.envId, due.resourceId),
      ]);
      // Still open and still vacant: a resource reassigned meanwhile needs no admin.
      if (
        claim?.claimId === due.claimId &&
        claim.status === "open" &&
        meta?.resource?.ownerId === claim.vacantOwnerId
      ) {
        await deps.emailQueue.send({
          kind: "claimEscalation",
          envId: due.envId,
          resourceId: due.resourceId,
          claimId: due.claimId,
        });
        result.escalated++;
      } else result.dropped++;
      await claims.deleteDue(due);
    }
    if (Date.now() - started > (options.budgetMs ?? 50_000)) {
      deps.log(
        `claim escalation: time budget used after ${result.escalated + result.dropped} due claim(s); the next run continues`,
      );
      return result;
    }
  }
}
