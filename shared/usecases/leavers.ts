import { notFound } from "../errors.js";
import { factsOf } from "../model/memberFacts.js";
import type { Environment, Membership } from "../model/records.js";
import { requireEnvironmentAdmin, type EnvironmentAdminGate } from "./adminGate.js";
import { isAppProvisioner, type Capabilities, type Caller } from "./capabilities.js";
import { keys } from "../store/keys.js";
import { logItem, outboxItems } from "./mutate.js";
import { offboardMessage } from "./offboardingTrigger.js";
import { recheckMemberFacts } from "./memberFacts.js";
import { relayNow } from "./relay.js";

type Deps = Pick<Capabilities, "repo" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock">;

/** Who may suspend, restore and remove members: environment admins, and provisioning apps. */
export const leaversGate: EnvironmentAdminGate = {
  alsoApps: isAppProvisioner,
  refusal:
    "suspending and removing an environment's members needs its SystemAdministrator role (as an enabled user), or the Sharing.Admin or Sharing.Provisioning app role",
};

/**
 * What must follow a member's leaving, written in the membership's own transaction so a crash
 * before the relay leaves it to the sweeper: the change log's entry, and where the environment has
 * `autoOffboard` the leaver's offboarding (sharing-rules.md, "Owners never vanish"), which runs off
 * the request path on the fan-out queue. Elsewhere the audit flags the leaver (`leaverNotOffboarded`).
 */
function leavingItems(
  deps: Deps,
  caller: Caller,
  env: Environment,
  userId: string,
  action: "membership.suspended" | "membership.restored" | "membership.removed",
) {
  const detail = {
    "membership.suspended": "suspended by provisioning (active: false)",
    "membership.restored": "restored by provisioning (active: true)",
    "membership.removed": "removed from the environment",
  }[action];
  const offboard =
    action !== "membership.restored" && env.autoOffboard === true
      ? [
          {
            type: "fanout" as const,
            messages: [offboardMessage(env.envId, userId, action === "membership.removed" ? "removed" : "deactivated")],
          },
        ]
      : [];
  return outboxItems(deps, [
    logItem(deps, env.envId, caller, { action, principal: { type: "user", id: userId }, detail }),
    ...offboard,
  ]);
}

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
  const { environment } = await requireEnvironmentAdmin(deps, caller, envId, leaversGate);
  const [user, membership] = await Promise.all([deps.repo.getUser(userId), deps.repo.getMembership(envId, userId)]);
  if (!user || !membership) throw notFound(`user ${userId} is not a member of environment ${envId}`);
  const changed = (membership.suspended === true) === active;
  const { suspended: _was, ...rest } = membership;
  const next: Membership = active ? rest : { ...rest, suspended: true };
  if (changed) {
    const items = leavingItems(
      deps,
      caller,
      environment,
      userId,
      active ? "membership.restored" : "membership.suspended",
    );
    await deps.repo.putMembership(next, factsOf(user), items);
    await relayNow(deps, "directory", keys.directoryPk(envId), items);
    await recheckMemberFacts(deps, envId, userId, factsOf(user));
  }
  return { membership: next, changed };
}

/**
 * Removes a member from the environment: the user's own membership row and the environment's member
 * row, each delete idempotent, so a repeat finishes what a crash interrupted. Their grants and group
 * memberships stay for the offboarding (automatic where the environment has `autoOffboard`, else the
 * audit flags the leaver). `removed` says whether a membership was there.
 */
export async function removeMember(
  deps: Deps,
  caller: Caller,
  envId: string,
  userId: string,
): Promise<{ removed: boolean }> {
  const { environment } = await requireEnvironmentAdmin(deps, caller, envId, leaversGate);
  const items = leavingItems(deps, caller, environment, userId, "membership.removed");
  const removed = await deps.repo.deleteMembership(envId, userId, items);
  if (removed) await relayNow(deps, "directory", keys.directoryPk(envId), items);
  return { removed };
}
