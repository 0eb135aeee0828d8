import { forbidden, invalid, notFound } from "../errors.js";
import type { Environment, Group, Membership, TenantUser } from "../model/records.js";
import { keys } from "../store/keys.js";
import { requireEnvironmentPart } from "./access.js";
import { requireEnvironmentAdmin } from "./adminGate.js";
import { isAppAdmin, type Capabilities, type Caller } from "./capabilities.js";
import { outboxItems } from "./mutate.js";
import { factsOf, sameFacts } from "../model/memberFacts.js";
import { recheckMemberFacts } from "./memberFacts.js";
import { relayNow } from "./relay.js";

type Deps = Pick<Capabilities, "repo" | "emailQueue" | "log" | "newId" | "clock">;

function requireAppAdmin(caller: Caller): void {
  if (!isAppAdmin(caller)) throw forbidden("this needs the Sharing.Admin app role");
}

/** App admins, or the environment's own enabled SystemAdministrators, manage its members and groups. */
const directoryGate = {
  refusal:
    "managing an environment's members and groups needs its SystemAdministrator role (as an enabled user) or the Sharing.Admin app role",
};

export async function putEnvironment(
  deps: Deps,
  caller: Caller,
  env: Environment,
): Promise<{ created: boolean; environment: Environment }> {
  requireAppAdmin(caller);
  const previous = await deps.repo.getEnvironment(env.envId);
  const stored: Environment = { ...env, ...(previous?.lastAuditAt ? { lastAuditAt: previous.lastAuditAt } : {}) };
  await deps.repo.putEnvironment(stored);
  return { created: !previous, environment: stored };
}

export async function putUser(
  deps: Deps,
  caller: Caller,
  user: TenantUser,
): Promise<{ created: boolean; user: TenantUser }> {
  requireAppAdmin(caller);
  const previous = await deps.repo.getUser(user.userId);
  // Environments keep the facts audits read on their member rows: a change of them follows through
  // the outbox, written with the profile, so a crash before the relay leaves it to the sweeper.
  const [item] =
    previous && !sameFacts(factsOf(previous), factsOf(user))
      ? outboxItems(deps, [{ type: "memberFacts", userId: user.userId }])
      : [];
  await deps.repo.putUser(user, item);
  if (item) await relayNow(deps, "principals", keys.principalPk({ type: "user", id: user.userId }), [item.id]);
  return { created: !previous, user };
}

export async function putMembership(
  deps: Deps,
  caller: Caller,
  m: Omit<Membership, "addedBy">,
): Promise<{ created: boolean; membership: Membership }> {
  await requireEnvironmentAdmin(deps, caller, m.envId, directoryGate);
  const [user, previous] = await Promise.all([deps.repo.getUser(m.userId), deps.repo.getMembership(m.envId, m.userId)]);
  if (!user) throw notFound(`user ${m.userId} is not in the tenant directory`);
  const membership: Membership = {
    ...m,
    securityRoles: [...new Set(m.securityRoles)],
    addedBy: previous?.addedBy ?? "admin",
  };
  await deps.repo.putMembership(membership, factsOf(user));
  await recheckMemberFacts(deps, m.envId, m.userId, factsOf(user));
  return { created: !previous, membership };
}

/**
 * `PUT .../groups/{id}`: the group or list and its members. The members' own rows (which access
 * checks read) follow through the outbox, so a crash halfway is finished by the sweeper.
 */
export async function putGroup(deps: Deps, caller: Caller, group: Group): Promise<{ created: boolean; group: Group }> {
  await requireEnvironmentAdmin(deps, caller, group.envId, directoryGate);
  const memberIds = [...new Set(group.memberIds)];
  const users = await Promise.all(memberIds.map((id) => deps.repo.getUser(id)));
  const unknown = memberIds.filter((_, i) => users[i] === undefined);
  if (unknown.length > 0) {
    throw invalid(
      "some members are not in the tenant directory",
      unknown.map((id) => ({ field: `body.memberIds[${group.memberIds.indexOf(id)}]`, message: `unknown user ${id}` })),
    );
  }
  const previous = await deps.repo.getGroup(group.envId, group.groupId);
  if (previous && previous.group.kind !== group.kind)
    throw invalid("a group's kind can't change", [{ field: "body.kind", message: `is ${previous.group.kind}` }]);
  const before = new Set(previous?.group.memberIds ?? []);
  const after = new Set(memberIds);
  const ref = {
    type: group.kind === "sharePointList" ? ("sharePointList" as const) : ("group" as const),
    id: group.groupId,
  };
  const [item] = outboxItems(deps, [
    {
      type: "groupSync",
      envId: group.envId,
      group: ref,
      added: memberIds.filter((id) => !before.has(id)),
      removed: [...before].filter((id) => !after.has(id)),
    },
  ]);
  const stored = { ...group, memberIds };
  await deps.repo.putGroup(stored, previous, item!);
  await relayNow(deps, "directory", keys.directoryPk(group.envId));
  return { created: !previous, group: stored };
}

export interface DirectoryEntry {
  type: "user" | "group" | "sharePointList";
  id: string;
  displayName: string;
  email?: string | undefined;
  userType?: TenantUser["userType"] | undefined;
  enabled?: boolean | undefined;
  isMember?: boolean | undefined;
}

/** `GET .../directory?search=`: tenant users and the environment's groups whose name or email starts with the text. */
export async function searchDirectory(
  deps: Deps,
  caller: Caller,
  envId: string,
  text: string,
  limit = 25,
): Promise<DirectoryEntry[]> {
  await requireEnvironmentPart(deps, caller, envId);
  const found = await deps.repo.searchDirectory(envId, text, limit);
  const memberships = await Promise.all(found.users.map((u) => deps.repo.getMembership(envId, u.userId)));
  return [
    ...found.users.map((u, i) => ({
      type: "user" as const,
      id: u.userId,
      displayName: u.displayName,
      email: u.email,
      userType: u.userType,
      enabled: u.enabled,
      isMember: memberships[i] !== undefined,
    })),
    ...found.groups.map((g) => ({
      type: g.kind === "sharePointList" ? ("sharePointList" as const) : ("group" as const),
      id: g.groupId,
      displayName: g.displayName,
    })),
  ];
}
