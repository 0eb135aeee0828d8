/**
 * The successor chain of sharing-rules.md, "Owners never vanish": who receives a leaver's resource
 * as primary owner. Pure: the caller says who can own (an enabled, non-guest member with a maker role,
 * as a reassignment's target must be) and this picks.
 */
import type { Grant, Resource } from "../model/records.js";
import type { SuccessorVia } from "../model/offboardings.js";

/** Security roles that let a user own processes and flows (seed 000: EnvironmentMaker is enough for processes). */
export const ownerCapableRoles: readonly string[] = ["EnvironmentMaker", "SystemAdministrator"];

/**
 * A resource's co-owners other than the leaver, longest-standing first (by grant time, then id):
 * `coOwner` grants of processes and task mining processes, the other owners of a flow (flows have no
 * co-owner role: every owner beside the primary one is a co-owner). Only users: a group can't be primary owner.
 */
export function coOwnersByTenure(
  resource: Pick<Resource, "kind">,
  grants: readonly Grant[],
  leaverId: string,
): string[] {
  const role = resource.kind === "cloudFlow" ? "owner" : "coOwner";
  const held = grants
    .filter((g) => g.principalType === "user" && g.role === role && g.principalId !== leaverId)
    .sort((a, b) =>
      a.grantedAt === b.grantedAt
        ? a.principalId.localeCompare(b.principalId)
        : new Date(a.grantedAt).getTime() - new Date(b.grantedAt).getTime(),
    );
  return [...new Set(held.map((g) => g.principalId))];
}

export interface SuccessorInput {
  leaverId: string;
  /** The successor named in the offboarding (checked up front that they can own). */
  namedId?: string | undefined;
  /** From `coOwnersByTenure`. */
  coOwners: readonly string[];
  /** The environment's `defaultSuccessorId`. */
  defaultSuccessorId?: string | undefined;
}

/**
 * The first link of the chain that gives a user able to own: the named successor; else the
 * longest-standing co-owner who can own (co-owners who can't, say guests or members without a maker
 * role, are passed over, as a reassignment would refuse them); else the environment's default
 * successor. Undefined: nobody, so the resource is ownerless. The leaver is never their own successor.
 */
export async function chooseSuccessor(
  input: SuccessorInput,
  canOwn: (userId: string) => Promise<boolean>,
): Promise<{ to: string; via: SuccessorVia } | undefined> {
  const fit = async (id: string | undefined) => id !== undefined && id !== input.leaverId && (await canOwn(id));
  if (await fit(input.namedId)) return { to: input.namedId!, via: "named" };
  for (const id of input.coOwners) if (await fit(id)) return { to: id, via: "coOwner" };
  if (await fit(input.defaultSuccessorId)) return { to: input.defaultSuccessorId!, via: "defaultSuccessor" };
  return undefined;
}

/** Processes and solution-aware flows change owner in place; a non-solution-aware flow's owner is part of its identity. */
export const ownerChangesInPlace = (r: Pick<Resource, "kind" | "solutionAware">) =>
  r.kind !== "cloudFlow" || r.solutionAware === true;
