import { conflict, forbidden, invalid, notFound, ruleViolation } from "../errors.js";
import type { ChangeEntry, Grant, PrincipalRef, Resource } from "../model/records.js";
import { limitationText } from "../rules/decide.js";
import type { Role } from "../rules/matrix.js";
import { ownerChangesInPlace } from "../rules/successor.js";
import type { ResourceChange } from "../store/repository.js";
import { viewAsCaller, type CallerView } from "./access.js";
import type { Capabilities, Caller } from "./capabilities.js";
import { changeEntry, changeResource, outboxItems } from "./mutate.js";
import { cannotOwnBecause, handOver, ownerAlertJobs } from "./primaryOwner.js";
import { principalKey, rolesOf } from "./relay.js";

type Deps = Pick<Capabilities, "repo" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock">;

export interface OwnerChangeRequest {
  ownerId: string;
  /** Default true: the previous primary owner stays an owner (a co-owner of a process). */
  keepPreviousOwner: boolean;
}

export interface OwnerChangeResult {
  resource: Resource;
  previousOwnerId: string;
  previousOwnerKept: boolean;
}

/** Seed 004, "Change the owner of a non-solution-aware cloud flow". */
export const needsCopyDetail =
  "the flow is not solution-aware: its owner is part of its identity, so its owner can't change in place; create a new flow for the new owner instead (send a copy, save as, or export and import)";

/**
 * `PUT .../resources/{id}/owner` (seed 004, "Edit the details"): the resource's owners and the
 * environment admins make another enabled member with a maker role its primary owner, in place, in
 * one ETag-guarded transaction (the new owner's grant and the meta row's `ownerId`, through
 * `changeResource`, so index rows, owners rows, the change log and the outbox follow). Processes
 * and task mining processes change in place too, as a reassignment moves them: only a
 * non-solution-aware flow carries its owner in its identity (422, a copy is the way). The previous
 * primary owner stays an owner unless `keepPreviousOwner` is false; a flow's creator always stays
 * (409, as removing them does).
 */
export async function changeOwner(
  deps: Deps,
  caller: Caller,
  envId: string,
  resourceId: string,
  req: OwnerChangeRequest,
  ifMatch: string | undefined,
): Promise<OwnerChangeResult> {
  const target: PrincipalRef = { type: "user", id: req.ownerId };
  return changeResource(deps, async () => {
    const [view, env, targetCtx] = await Promise.all([
      viewAsCaller(deps, caller, envId, resourceId, [target]),
      deps.repo.getEnvironment(envId),
      deps.repo.principalContext(envId, req.ownerId),
    ]);
    if (!env) throw notFound(`environment ${envId} was not found`);
    const r = view.state.resource;
    requireOwnerChanger(view);
    if (ifMatch && ifMatch !== "*" && ifMatch !== view.state.etag)
      throw conflict("the resource changed since it was read (If-Match)");
    if (!ownerChangesInPlace(r)) throw ruleViolation(needsCopyDetail);
    if (!targetCtx.user)
      throw invalid("the new owner is not in the tenant directory", [
        { field: "body.ownerId", message: `unknown user ${req.ownerId}` },
      ]);
    const why = cannotOwnBecause(targetCtx.user, targetCtx.membership, envId);
    if (why) throw ruleViolation(`the owner was not changed: ${req.ownerId} ${why}`);

    const previousId = r.ownerId;
    const previous: PrincipalRef = { type: "user", id: previousId };
    const flowCreatorLeaves = r.kind === "cloudFlow" && previousId === r.creatorId && !req.keepPreviousOwner;
    if (previousId === req.ownerId) {
      // Already the primary owner: nothing to write; asking to drop them too is asking to drop the owner.
      const kept = rolesOf(view.state.grants, previous).includes("owner");
      return { result: { resource: r, previousOwnerId: previousId, previousOwnerKept: kept } };
    }
    if (flowCreatorLeaves)
      throw conflict(
        `the creator of a flow can never be removed as owner: ${previousId} created it and stays an owner; ask with keepPreviousOwner true`,
      );
    // The caller's view holds the grants of the caller, the target and every group; the previous owner's may be missing.
    const previousGrants = view.state.grants.some((g) => g.principalType === "user" && g.principalId === previousId)
      ? view.state.grants
      : ((await deps.repo.resourceStateFor(envId, resourceId, [previous]))?.grants ?? []);
    const now = deps.clock().toISOString();
    const handover = handOver(view.state, req.ownerId, caller.principalId, now);
    const { putGrants, deleteGrants, previousRoles } = previousOwnerGrants(
      r,
      rolesOf(previousGrants, previous),
      previous,
      req.keepPreviousOwner,
      caller.principalId,
      now,
    );
    const previousKept = previousRoles.includes("owner") || previousRoles.includes("coOwner");
    const entry: ChangeEntry = changeEntry(deps, {
      actorId: caller.principalId,
      action: "owner.changed",
      resourceId,
      principal: target,
      role: "owner",
      detail: `primary owner of ${r.kind} ${r.displayName} changed from ${previousId} to ${req.ownerId}; ${previousId} ${
        previousKept ? `stays ${r.kind === "cloudFlow" ? "an owner" : "a co-owner"}` : "is no longer an owner"
      }`,
    });
    const jobs = ownerAlertJobs(deps, env, resourceId, target, caller.principalId, now, { how: "ownerChange" });
    const change: ResourceChange = {
      etag: view.state.etag,
      resource: handover.resource,
      putGrants: [...handover.putGrants, ...putGrants],
      deleteGrants: [...handover.deleteGrants, ...deleteGrants],
      changes: [entry],
      outbox: outboxItems(deps, [
        { type: "index", envId, resourceId, principals: [previous, target] },
        { type: "catalog", envId, resourceId },
        { type: "log", envId, entries: [entry] },
        ...(jobs.length > 0 ? [{ type: "email" as const, jobs }] : []),
      ]),
    };
    return {
      change,
      result: { resource: handover.resource, previousOwnerId: previousId, previousOwnerKept: previousKept },
      known: {
        resource: handover.resource,
        roles: new Map([
          [principalKey(previous), previousRoles],
          [principalKey(target), handover.newOwnerRoles],
        ]),
      },
    };
  });
}

/**
 * Seed 004 lets a flow's owners and the environment admins change its owner; for processes the owner
 * role and the admins (seed 000: admins reassign records). Co-owners, viewers, contributors and run-only
 * users may not; neither may a disabled or suspended owner, nor one with no security role.
 */
function requireOwnerChanger(view: CallerView): void {
  const d = view.decision;
  const admin = d.via.some((v) => v.through === "admin");
  if (d.limitation) throw forbidden(`changing the owner is not allowed: ${limitationText(d.limitation)}`);
  if (!admin && !d.roles.includes("owner"))
    throw forbidden(
      `changing the owner is for the resource's owners and the environment's admins; the caller holds ${d.roles.join(", ") || "no role"}`,
    );
}

/**
 * What happens to the previous primary owner's grants. Kept: a flow's owner grant stays (flows'
 * co-owners are owners); a process's owner grant becomes a co-owner grant (a process has one owner).
 * Not kept: the owner grant goes (never a flow creator's: refused before).
 */
export function previousOwnerGrants(
  resource: Pick<Resource, "kind">,
  held: readonly Role[],
  previous: PrincipalRef,
  keep: boolean,
  grantedBy: string,
  now: string,
): {
  putGrants: Grant[];
  deleteGrants: NonNullable<ResourceChange["deleteGrants"]>;
  previousRoles: Role[];
} {
  if (keep && resource.kind === "cloudFlow") return { putGrants: [], deleteGrants: [], previousRoles: [...held] };
  const deleteGrants = held.includes("owner") ? [{ principal: previous, role: "owner" as const }] : [];
  const rest = held.filter((x) => x !== "owner");
  if (!keep || rest.includes("coOwner")) return { putGrants: [], deleteGrants, previousRoles: rest };
  return {
    putGrants: [{ principalType: "user", principalId: previous.id, role: "coOwner", grantedBy, grantedAt: now }],
    deleteGrants,
    previousRoles: [...rest, "coOwner"],
  };
}
