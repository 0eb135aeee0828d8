import { factsOf, sameFacts, type MemberFacts } from "../model/memberFacts.js";
import type { Capabilities } from "./capabilities.js";

type Deps = Pick<Capabilities, "repo">;

/** How many times a relay writes the facts again when the profile keeps changing under it. */
const maxRounds = 5;

/**
 * Applies a `memberFacts` outbox item: the user's facts, as their profile says now, on the member
 * row of every environment they are in. Two relays of two quick profile changes may finish in
 * either order, so the profile is read again after writing, and the facts written again if it
 * changed meanwhile: the last writer always writes the newest facts. Returns the environments visited.
 */
export async function applyMemberFacts(deps: Deps, userId: string): Promise<string[]> {
  const envIds = await deps.repo.memberFacts.environmentsOf(userId);
  if (envIds.length === 0) return envIds;
  let user = await deps.repo.getUser(userId);
  for (let round = 1; user; round++) {
    const facts = factsOf(user);
    for (const envId of envIds) await deps.repo.memberFacts.set(envId, userId, facts);
    user = await deps.repo.getUser(userId);
    if (!user || sameFacts(factsOf(user), facts)) return envIds;
    if (round >= maxRounds) throw new Error(`the profile of ${userId} kept changing while its facts were relayed`);
  }
  return envIds;
}

/**
 * After a member row was written with `written`: a profile change whose relay listed the user's
 * environments before this membership existed missed it, so the profile is read once more and the
 * row corrected if it has changed since.
 */
export async function recheckMemberFacts(
  deps: Deps,
  envId: string,
  userId: string,
  written: MemberFacts,
): Promise<void> {
  const user = await deps.repo.getUser(userId);
  if (user && !sameFacts(factsOf(user), written)) await deps.repo.memberFacts.set(envId, userId, factsOf(user));
}
