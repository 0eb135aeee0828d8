import { decodePageToken, encodePageToken } from "../store/pageToken.js";
import { z } from "zod";
import { forbidden, invalid, notFound } from "../errors.js";
import type { ChangeEntry } from "../model/records.js";
import { ownershipRoles } from "../rules/matrix.js";
import { viewAsCaller } from "./access.js";
import { hasActiveMembership, isEnabledEnvironmentAdmin } from "./adminGate.js";
import { isAppAdmin, isAppAuditor, isAppChecker, type Capabilities, type Caller } from "./capabilities.js";

type Deps = Pick<Capabilities, "repo">;

export interface ChangesQuery {
  resourceId?: string | undefined;
  principalId?: string | undefined;
  continuationToken?: string | undefined;
}

export interface ChangeItem {
  at: string;
  actorId: string;
  action: ChangeEntry["action"];
  resourceId?: string | undefined;
  principal?: ChangeEntry["principal"];
  role?: ChangeEntry["role"];
  detail: string;
  /** `group.members` entries: how many members were added and removed. */
  counts?: ChangeEntry["counts"];
  /** `audit.completed` entries: the audit. */
  auditId?: string | undefined;
  /** `review-deny` and `review.completed` entries: the review and its instance. */
  reviewId?: string | undefined;
  instanceId?: string | undefined;
}

/** Items a page aims at; a filtered page may hold fewer (even none) and still a token, as Table Storage pages do. */
const pageItems = 50;
/** Raw rows read per storage request while filtering. */
const rawPageSize = 200;
/** Storage requests one call may spend looking for matches before it answers with what it has. */
const maxReadsPerCall = 10;

/**
 * Which log the token walks: the resource's own partition ("r", while the resource exists) or the
 * environment's log ("e", filtered when a resource or principal is asked for).
 */
const tokenSchema = z.object({ s: z.enum(["r", "e"]), c: z.string().min(1).max(4000) });

function encodeToken(source: "r" | "e", continuation: string): string {
  return encodePageToken({ s: source, c: continuation });
}

function decodeToken(token: string): z.infer<typeof tokenSchema> {
  return decodePageToken(tokenSchema, token);
}

/**
 * `GET /api/environments/{envId}/changes`: every grant, revoke, invitation, copy and reassignment,
 * newest first, paged. Environment admins and `Sharing.Audit` (or `Sharing.Admin`) apps read the
 * whole log; the owners (owner, co-owner) of a resource read that resource's log. `principalId`
 * matches entries about that principal or made by them.
 */
export async function listChanges(
  deps: Deps,
  caller: Caller,
  envId: string,
  q: ChangesQuery,
): Promise<{ items: ChangeItem[]; continuationToken?: string | undefined }> {
  const admin = await mayReadWholeLog(deps, caller, envId);
  let resourceExists = false;
  if (q.resourceId !== undefined) {
    if (admin) resourceExists = (await deps.repo.resourceState(envId, q.resourceId)) !== undefined;
    else {
      const view = await viewAsCaller(deps, caller, envId, q.resourceId);
      if (!view.decision.roles.some((r) => ownershipRoles.includes(r))) {
        throw forbidden("a resource's change log is for its owners, environment admins and Sharing.Audit apps");
      }
      resourceExists = true;
    }
  } else if (!admin) {
    throw forbidden(
      "the environment's change log is for environment admins and Sharing.Audit apps; owners may read their resource's log with resourceId",
    );
  }

  const token = q.continuationToken !== undefined ? decodeToken(q.continuationToken) : undefined;
  if (token?.s === "r" && q.resourceId === undefined) {
    throw invalid("this continuation token belongs to a resource's change log; pass the same resourceId", [
      { field: "query.continuationToken", message: "needs resourceId" },
    ]);
  }
  // A deleted resource's own rows are purged; the environment's log still holds its history.
  const source = token?.s ?? (q.resourceId !== undefined && resourceExists ? "r" : "e");
  const matches = (e: ChangeEntry) =>
    (q.resourceId === undefined || e.resourceId === q.resourceId) &&
    (q.principalId === undefined || e.principal?.id === q.principalId || e.actorId === q.principalId);

  const items: ChangeItem[] = [];
  let continuation = token?.c;
  let reads = 0;
  do {
    const page =
      source === "r"
        ? await deps.repo.resourceChanges(envId, q.resourceId!, continuation, rawPageSize)
        : await deps.repo.environmentChanges(
            envId,
            continuation,
            q.resourceId === undefined && q.principalId === undefined ? pageItems : rawPageSize,
          );
    for (const e of page.items) if (matches(e)) items.push(toItem(e));
    continuation = page.continuation;
    reads++;
  } while (continuation && items.length < pageItems && reads < maxReadsPerCall);
  return { items, ...(continuation ? { continuationToken: encodeToken(source, continuation) } : {}) };
}

async function mayReadWholeLog(deps: Deps, caller: Caller, envId: string): Promise<boolean> {
  if (isAppAdmin(caller) || isAppAuditor(caller) || isAppChecker(caller)) {
    if (!(await deps.repo.getEnvironment(envId))) throw notFound(`environment ${envId} was not found`);
    if (!isAppAdmin(caller) && !isAppAuditor(caller))
      throw forbidden("Sharing.Check apps may only ask effective access and checks");
    return true;
  }
  const ctx = await deps.repo.principalContext(envId, caller.principalId);
  if (!hasActiveMembership(ctx)) throw notFound(`environment ${envId} was not found`);
  return isEnabledEnvironmentAdmin(ctx);
}

function toItem(e: ChangeEntry): ChangeItem {
  return {
    at: e.at,
    actorId: e.actorId,
    action: e.action,
    ...(e.resourceId !== undefined ? { resourceId: e.resourceId } : {}),
    ...(e.principal !== undefined ? { principal: e.principal } : {}),
    ...(e.role !== undefined ? { role: e.role } : {}),
    detail: e.detail,
    ...(e.counts !== undefined ? { counts: e.counts } : {}),
    ...(e.auditId !== undefined ? { auditId: e.auditId } : {}),
    ...(e.reviewId !== undefined ? { reviewId: e.reviewId } : {}),
    ...(e.instanceId !== undefined ? { instanceId: e.instanceId } : {}),
  };
}
