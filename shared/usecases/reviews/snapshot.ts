import { createHash } from "node:crypto";
import { isExpired, type Grant } from "../../model/records.js";
import {
  maxReviewersPerItem,
  userReviewerKey,
  type ReviewDefinition,
  type ReviewerKey,
  type ReviewInstance,
  type ReviewItem,
} from "../../model/reviews.js";
import { ownershipRoles } from "../../rules/matrix.js";
import type { EnvironmentDirectory, ResourcePage } from "../../store/auditReads.js";
import type { ResourceState } from "../../store/repository.js";
import type { Capabilities } from "../capabilities.js";
import { Lease, leaseHeld, walkPages } from "../catalogWalk.js";

type Deps = Pick<Capabilities, "reviews" | "audits" | "clock" | "log">;

/** Rows a page of the resources range holds (meta and grants): as audits read it. */
export const snapshotPageSize = 1000;
/** Item transactions in flight at once while a page is written. */
const writeConcurrency = 8;

/**
 * An item's id, from its grant: the same grant gives the same id, so a page walked again after a
 * crash rewrites the same rows. `i` and 22 characters of base64url SHA-256 (132 bits).
 */
export function reviewItemId(resourceId: string, grant: Pick<Grant, "principalType" | "principalId" | "role">): string {
  const digest = createHash("sha256")
    .update(`${resourceId}|${grant.principalType}|${grant.principalId}|${grant.role}`)
    .digest("base64url");
  return `i${digest.slice(0, 22)}`;
}

/** Whether a grant is in the definition's scope (docs/reviews.md, "Scope"). */
export function inScope(
  definition: Pick<ReviewDefinition, "scope">,
  kind: ResourceState["resource"]["kind"],
  grant: Grant,
  directory: Pick<EnvironmentDirectory, "members">,
  now: Date,
): boolean {
  const s = definition.scope;
  if (isExpired(grant.expiresAt, now)) return false;
  if (s.kinds && !s.kinds.includes(kind)) return false;
  if (s.roles && !s.roles.includes(grant.role)) return false;
  if (s.principalTypes && !s.principalTypes.includes(grant.principalType)) return false;
  if (
    s.guestsOnly &&
    !(grant.principalType === "user" && directory.members.get(grant.principalId)?.userType === "guest")
  )
    return false;
  return true;
}

/**
 * Who reviews the items of one resource: the definition's `admins`, or its enabled owners (user
 * grants of owner or co-owner whose member facts say enabled), never the item's own principal, at
 * most 40 by id; none left → `fallback` when the definition names fallback reviewers, else `admins`.
 */
export function reviewersOf(
  definition: Pick<ReviewDefinition, "reviewers" | "fallbackReviewerIds">,
  state: ResourceState,
  directory: Pick<EnvironmentDirectory, "members">,
  now: Date,
): (grant: Grant) => ReviewerKey[] {
  if (definition.reviewers === "admins") return () => ["admins"];
  const owners = [
    ...new Set(
      state.grants
        .filter(
          (g) =>
            g.principalType === "user" &&
            ownershipRoles.includes(g.role) &&
            !isExpired(g.expiresAt, now) &&
            directory.members.get(g.principalId)?.enabled === true,
        )
        .map((g) => g.principalId),
    ),
  ].sort();
  const none: ReviewerKey[] = [definition.fallbackReviewerIds?.length ? "fallback" : "admins"];
  return (grant) => {
    const keys = owners
      .filter((id) => !(grant.principalType === "user" && grant.principalId === id))
      .slice(0, maxReviewersPerItem)
      .map(userReviewerKey);
    return keys.length > 0 ? keys : none;
  };
}

/** A page's resources as items (grants in scope), with the reviewer keys they name. */
export function itemsOf(
  definition: ReviewDefinition,
  resources: readonly ResourceState[],
  directory: Pick<EnvironmentDirectory, "members">,
  now: Date,
): { items: ReviewItem[]; reviewerKeys: Set<ReviewerKey> } {
  const items: ReviewItem[] = [];
  const reviewerKeys = new Set<ReviewerKey>();
  for (const state of resources) {
    const { resource } = state;
    const reviewers = reviewersOf(definition, state, directory, now);
    for (const grant of state.grants) {
      if (!inScope(definition, resource.kind, grant, directory, now)) continue;
      const keys = reviewers(grant);
      keys.forEach((k) => reviewerKeys.add(k));
      const facts = grant.principalType === "user" ? directory.members.get(grant.principalId) : undefined;
      items.push({
        itemId: reviewItemId(resource.resourceId, grant),
        resourceId: resource.resourceId,
        kind: resource.kind,
        resourceName: resource.displayName,
        principal: { type: grant.principalType, id: grant.principalId },
        ...(facts ? { guest: facts.userType === "guest" } : {}),
        role: grant.role,
        since: grant.grantedAt,
        grantedBy: grant.grantedBy,
        via: grant.invitationId ? "invitation" : "direct",
        ...(grant.expiresAt ? { expiresAt: grant.expiresAt } : {}),
        reviewers: keys,
      });
    }
  }
  return { items, reviewerKeys };
}

export interface SnapshotOptions {
  /** How long this call walks before it leaves the rest to the next one (the runner timer). */
  budgetMs: number;
  pageSize?: number;
}

/**
 * The `snapshot` phase of an instance: walks the environment's resources (`AuditReads.resourcePages`)
 * from the run row's cursor, under a lease on the run row, writing each page's items, their reviewer
 * index rows and the reviewer rows (upserts, at most 100 operations a transaction, several in flight),
 * then the run row with the cursor and the counts in one write, so a walk that stops repeats at most
 * one page and counts it once. At the end the phase becomes `notify` with `snapshotAt`. Does nothing
 * (returns the row) for an instance in another phase or held by a live lease; undefined when unknown.
 *
 * Costs: the environment's member and group rows by range once a call, then per 1,000 rows of the
 * resources range one scan request, about (items × (1 + reviewers)) / 100 transactions, and one run
 * row write.
 */
export async function runSnapshot(
  deps: Deps,
  envId: string,
  reviewId: string,
  instanceId: string,
  options: SnapshotOptions,
): Promise<ReviewInstance | undefined> {
  const read = await deps.reviews.getRun(envId, reviewId, instanceId);
  if (!read) return undefined;
  if (read.run.phase !== "snapshot" || leaseHeld(read.run, deps.clock())) return read.run;
  const lease = await Lease.take(
    read.run,
    read.etag,
    (row, etag, outbox) => deps.reviews.putRun(row, etag, outbox),
    deps,
    options.budgetMs,
  );
  const directory = await deps.audits.reads.directory(envId);
  const now = deps.clock();
  const pages = deps.audits.reads.resourcePages(envId, lease.row.cursor, options.pageSize ?? snapshotPageSize);
  const outcome = await walkPages<ReviewInstance, ResourcePage>(lease, pages, false, async (row, page) => {
    const { items, reviewerKeys } = itemsOf(row.definition, page.resources, directory, now);
    if (items.length > 0)
      await deps.reviews.putItems(envId, reviewId, instanceId, items, [...reviewerKeys], writeConcurrency);
    return {
      ...row,
      counts: { ...row.counts, items: row.counts.items + items.length, undecided: row.counts.undecided + items.length },
      // The last page's write ends the phase with it: a crash after it never walks (and counts) again.
      ...(page.cursor === undefined ? { phase: "notify" as const, snapshotAt: deps.clock().toISOString() } : {}),
    };
  });
  // "outOfTime" released the lease already; at the end the holder lets the runner go on at once.
  if (outcome === "end") await lease.release();
  return lease.row;
}
