/**
 * How automatic offboarding starts (sharing-rules.md, "Owners never vanish": an environment with
 * `autoOffboard` offboards a leaver at once). Kept apart from `offboarding.ts` so the relay can start
 * one without importing the machinery that writes resources (which imports the relay).
 */
import type { FanoutMessage } from "../model/fanout.js";
import type { OffboardingTrigger } from "../model/offboardings.js";
import type { Capabilities } from "./capabilities.js";

type Deps = Pick<Capabilities, "repo" | "fanoutQueue">;

/** Why a user is a leaver in an environment: disabled in the directory, removed from it, or deactivated through SCIM. */
export type LeaverReason = Exclude<OffboardingTrigger, "request">;

/** The fan-out message that runs (and keeps re-sending itself until done) the leaver's offboarding. */
export function offboardMessage(
  envId: string,
  userId: string,
  reason: LeaverReason,
): Extract<FanoutMessage, { type: "offboard" }> {
  return { type: "offboard", envId, userId, reason };
}

/**
 * Call when a user leaves an environment (disabled, removed, deactivated): where the environment
 * has `autoOffboard: true`, queues their offboarding, which runs off the request path with the
 * environment's successor chain. Returns whether it was queued. Elsewhere it does nothing: the audit
 * flags the leaver (`leaverNotOffboarded`). Sending twice is harmless (a run that would find nothing
 * left to do doesn't start). For a crash between the directory change and this call to lose
 * nothing, write `offboardMessage(...)` as a `fanout` outbox item in the change's own transaction
 * instead; the relay and the sweeper send it.
 */
export async function leaverDetected(
  deps: Deps,
  envId: string,
  userId: string,
  reason: LeaverReason,
): Promise<boolean> {
  const env = await deps.repo.getEnvironment(envId);
  if (env?.autoOffboard !== true) return false;
  await deps.fanoutQueue.send(offboardMessage(envId, userId, reason));
  return true;
}

/**
 * The relay of a profile change (a `memberFacts` outbox item, written with the profile): a user now
 * disabled is a leaver in each of their environments.
 */
export async function offboardIfDisabled(deps: Deps, userId: string, envIds: readonly string[]): Promise<void> {
  if (envIds.length === 0) return;
  const user = await deps.repo.getUser(userId);
  if (!user || user.enabled) return;
  await Promise.all(envIds.map((envId) => leaverDetected(deps, envId, userId, "disabled")));
}
