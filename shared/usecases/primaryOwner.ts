import { createHash } from "node:crypto";
import type { EmailJob, OwnerAlertHow } from "../model/emailJobs.js";
import type { Environment, Grant, PrincipalRef, Resource } from "../model/records.js";
import type { Role } from "../rules/matrix.js";
import { ownerCapableRoles } from "../rules/successor.js";
import type { ResourceChange, ResourceState } from "../store/repository.js";
import type { Capabilities } from "./capabilities.js";
import { rolesOf } from "./relay.js";

/**
 * Making a user the primary owner of a resource in place, the one way every route does it
 * (reassignment, offboarding, `PUT .../owner`), so grants, the meta row and the index follow alike.
 */

/** Why a user can't be a primary owner in the environment, or undefined when they can (seed 000: a maker role). */
export function cannotOwnBecause(
  user: { enabled: boolean; userType: string } | undefined,
  membership: { securityRoles: readonly string[]; suspended?: boolean | undefined } | undefined,
  envId: string,
): string | undefined {
  if (!user) return "is not in the tenant directory";
  if (!user.enabled) return "is disabled in the tenant directory";
  if (user.userType === "guest") return "is a guest, and guests can't be primary owners";
  if (!membership) return `is not a member of environment ${envId}; add them with the EnvironmentMaker role first`;
  if (membership.suspended === true) return `has a suspended membership of environment ${envId}`;
  if (!membership.securityRoles.some((r) => ownerCapableRoles.includes(r)))
    return `holds ${membership.securityRoles.join(", ") || "no security role"} in environment ${envId}, and owning processes and flows needs EnvironmentMaker or SystemAdministrator`;
  return undefined;
}

export interface Handover {
  /** The resource with its new `ownerId`. */
  resource: Resource;
  putGrants: Grant[];
  deleteGrants: NonNullable<ResourceChange["deleteGrants"]>;
  /** The new owner's roles once committed (for the relay's `Known`). */
  newOwnerRoles: Role[];
}

/**
 * The new owner's side of a change of primary owner: their owner grant (unless they hold one) and
 * the meta row's `ownerId`, which go in one transaction so no resource is ever without an owner;
 * a co-owner grant they held goes, since owning supersedes it. The previous owner's grants are
 * each caller's decision (reassignment, offboarding and `PUT .../owner` differ there).
 */
export function handOver(state: ResourceState, toUserId: string, grantedBy: string, now: string): Handover {
  const to: PrincipalRef = { type: "user", id: toUserId };
  const held = rolesOf(state.grants, to);
  return {
    resource: { ...state.resource, ownerId: toUserId, updatedAt: now },
    putGrants: held.includes("owner")
      ? []
      : [{ principalType: "user", principalId: toUserId, role: "owner", grantedBy, grantedAt: now }],
    deleteGrants: held.includes("coOwner") ? [{ principal: to, role: "coOwner" }] : [],
    newOwnerRoles: [...held.filter((x) => x !== "coOwner" && x !== "owner"), "owner"],
  };
}

/**
 * An owner alert's id from what makes it one alert (the path's run or change, the resource, the
 * person, the role): the mailer derives the email's `Operation-Id` from it and records each sent,
 * so the same alert queued again, by a retry, a message run twice or a resumed run, is not sent twice.
 */
export function ownerAlertId(how: OwnerAlertHow, ...parts: string[]): string {
  const h = createHash("sha256")
    .update(JSON.stringify([how, ...parts]), "utf8")
    .digest("hex");
  return `${how}.${h.slice(0, 48)}`;
}

/** Adding an owner in a sensitive environment alerts its admins however it happens (sharing-rules.md). */
export function ownerAlertJobs(
  deps: Pick<Capabilities, "newId">,
  env: Pick<Environment, "envId" | "sensitive">,
  resourceId: string,
  principal: PrincipalRef,
  actorId: string,
  at: string,
  /** The path, and an id that is the same every time this path's step runs again (`ownerAlertId`). */
  options: { how?: OwnerAlertHow; alertId?: string; role?: Role; via?: PrincipalRef } = {},
): EmailJob[] {
  if (!env.sensitive) return [];
  return [
    {
      kind: "ownerAlert",
      envId: env.envId,
      resourceId,
      principal,
      role: options.role ?? "owner",
      actorId,
      at,
      alertId: options.alertId ?? deps.newId(),
      ...(options.how ? { how: options.how } : {}),
      ...(options.via ? { via: options.via } : {}),
    },
  ];
}
