import { notFound } from "../errors.js";
import { factsOf } from "../model/memberFacts.js";
import type { Membership } from "../model/records.js";
import { requireEnvironmentAdmin, type EnvironmentAdminGate } from "./adminGate.js";
import { isAppProvisioner, type Capabilities, type Caller } from "./capabilities.js";
import { recheckMemberFacts } from "./memberFacts.js";

type Deps = Pick<Capabilities, "repo" | "emailQueue" | "fanoutQueue" | "log" | "newId" | "clock">;

/** Who may suspend, restore and remove members: environment admins, and provisioning apps. */
export const leaversGate: EnvironmentAdminGate = {
  alsoApps: isAppProvisioner,
  refusal:
    "suspending and removing an environment's members needs its SystemAdministrator role (as an enabled user), or the Sharing.Admin or Sharing.Provisioning app role",
};

/** How a member left: suspended (SCIM `active: false`), or removed from the environment. */
export type Leaving = "suspended" | "removed";

/**
 * THE OFFBOARDING HOOK: the one place a member's leaving passes through, after it is stored. The
 * rules ("Owners never vanish") offboard a leaver where the environment has `autoOffboard`, and
 * otherwise leave it to the audit to flag them; neither is built here yet, so nothing runs. The
 * lead wires automatic offboarding in here. It is called again when a client repeats the request
 * (a suspension PATCHed twice, a DELETE retried), so what is wired here must be idempotent.
 */
async function memberLeft(_deps: Deps, _envId: string, _userId: string, _how: Leaving): Promise<void> {}

/**
 * Suspends (`active: false`) or restores a member of the environment. A suspended member stays
 * listed (SCIM returns inactive users) and can do nothing there: checks deny them, they are no
 * environment admin, and their calls are answered as an outsider's (`hasActiveMembership`).
 * Both membership rows are rewritten by `putMembership` (idempotent upserts).
 */
export async function setMemberActive(
  deps: Deps,
  caller: Caller,
  envId: string,
  userId: string,
  active: boolean,
): Promise<{ membership: Membership; changed: boolean }> {
  await requireEnvironmentAdmin(deps, caller, envId, leaversGate);
  const [user, membership] = await Promise.all([deps.repo.getUser(userId), deps.repo.getMembership(envId, userId)]);
  if (!user || !membership) throw notFound(`user ${userId} is not a member of environment ${envId}`);
  const changed = (membership.suspended === true) === active;
  const { suspended: _was, ...rest } = membership;
  const next: Membership = active ? rest : { ...rest, suspended: true };
  if (changed) {
    await deps.repo.putMembership(next, factsOf(user));
    await recheckMemberFacts(deps, envId, userId, factsOf(user));
  }
  if (!active) await memberLeft(deps, envId, userId, "suspended");
  return { membership: next, changed };
}

/**
 * Removes a member from the environment: the user's own membership row and the environment's member
 * row, each delete idempotent, so a repeat finishes what a crash interrupted. Their grants and group
 * memberships stay for the offboarding (the hook) to handle. `removed` says whether a membership was there.
 */
export async function removeMember(
  deps: Deps,
  caller: Caller,
  envId: string,
  userId: string,
): Promise<{ removed: boolean }> {
  await requireEnvironmentAdmin(deps, caller, envId, leaversGate);
  const membership = await deps.repo.getMembership(envId, userId);
  await deps.repo.deleteMembership(envId, userId);
  await memberLeft(deps, envId, userId, "removed");
  return { removed: membership !== undefined };
}
