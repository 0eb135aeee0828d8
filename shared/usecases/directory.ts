import { forbidden, invalid, notFound } from "../errors.js";
import { groupRef, type Environment, type Group, type Membership, type TenantUser } from "../model/records.js";
import type { OutboxItem } from "../model/outbox.js";
import { keys } from "../store/keys.js";
import { requireEnvironmentPart } from "./access.js";
import { requireEnvironmentAdmin, type EnvironmentAdminGate } from "./adminGate.js";
import { isAppAdmin, type Capabilities, type Caller } from "./capabilities.js";
import { outboxItems } from "./mutate.js";
import { factsOf, sameFacts } from "../model/memberFacts.js";
import { recheckMemberFacts } from "./memberFacts.js";
import { relayNow } from "./relay.js";

type Deps = Pick<Capabilities, "repo" | "emailQueue" | "fanoutQueue" | "log" | "newId" | "clock">;

function requireAppAdmin(caller: Caller): void {
  if (!isAppAdmin(caller)) throw forbidden("this needs the Sharing.Admin app role");
}

/** App admins, or the environment's own enabled SystemAdministrators, manage its members and groups. */
export const directoryGate: EnvironmentAdminGate = {
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
  return storeUser(deps, user);
}

/**
 * Writes a tenant user's profile, and the facts environments keep of it: for callers that checked
 * who may (`putUser`; provisioning, which creates and updates the users it provisions).
 */
export async function storeUser(deps: Deps, user: TenantUser): Promise<{ created: boolean; user: TenantUser }> {
  const previous = await deps.repo.getUser(user.userId);
  // Environments keep the facts audits read on their member rows: a change of them follows through
  // the outbox, written with the profile, so a crash before the relay leaves it to the sweeper.
  const [item] =
    previous && !sameFacts(factsOf(previous), factsOf(user))
      ? outboxItems(deps, [{ type: "memberFacts", userId: user.userId }])
      : [];
  await deps.repo.putUser(user, item);
  if (item) await relayNow(deps, "principals", keys.principalPk({ type: "user", id: user.userId }), [item]);
  return { created: !previous, user };
}

export async function putMembership(
  deps: Deps,
  caller: Caller,
  m: Omit<Membership, "addedBy">,
  gate: EnvironmentAdminGate = directoryGate,
): Promise<{ created: boolean; membership: Membership }> {
  await requireEnvironmentAdmin(deps, caller, m.envId, gate);
  const [user, previous] = await Promise.all([deps.repo.getUser(m.userId), deps.repo.getMembership(m.envId, m.userId)]);
  if (!user) throw notFound(`user ${m.userId} is not in the tenant directory`);
  const membership: Membership = {
    ...m,
    securityRoles: [...new Set(m.securityRoles)],
    addedBy: previous?.addedBy ?? "admin",
    // Suspension is provisioning's to lift (SCIM `active`), not a side effect of setting roles.
    ...(previous?.suspended === true ? { suspended: true } : {}),
  };
  await deps.repo.putMembership(membership, factsOf(user));
  await recheckMemberFacts(deps, m.envId, m.userId, factsOf(user));
  return { created: !previous, membership };
}

/** Refuses ids the tenant directory doesn't know, naming each (the first 100). */
async function requireKnownUsers(deps: Deps, ids: readonly string[], field: string, given: readonly string[]) {
  const known = await deps.repo.knownUsers(ids);
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw invalid(
      `${unknown.length} member(s) are not in the tenant directory`,
      unknown.slice(0, 100).map((id) => ({ field: `${field}[${given.indexOf(id)}]`, message: `unknown user ${id}` })),
    );
  }
}

/**
 * Applies a membership change: both rows of each member, 49 members a transaction with the outbox
 * row that fans them out, then the fan-out messages are sent and the outbox rows removed. Checks see
 * the change as soon as this returns; members' listings follow through the fan-out queue.
 */
async function changeMembers(
  deps: Deps,
  envId: string,
  group: Group,
  add: readonly string[],
  remove: readonly string[],
  diffKnown = false,
) {
  const ref = groupRef(group);
  // The buckets new members go to are marked on the group's row first, so listings find them.
  await deps.repo.groups.markBuckets(envId, group, add);
  const done = await deps.repo.groups.apply(
    envId,
    ref,
    add,
    remove,
    (memberIds) =>
      outboxItems(deps, [{ type: "fanout", messages: [{ type: "members", envId, group: ref, memberIds }] }])[0]!,
    { diffKnown },
  );
  const byPk = new Map<string, OutboxItem[]>();
  for (const o of done.outbox) byPk.set(o.pk, [...(byPk.get(o.pk) ?? []), o.item]);
  // Read after the members' rows committed: if the group holds nothing now, a share that comes
  // later lists the members itself, so there is nothing to fan out (the outbox rows just go).
  const holds = byPk.size > 0 && (await deps.repo.index.ownPage(envId, ref, undefined, 1)).entries.length > 0;
  await Promise.all(
    [...byPk].map(([pk, items]) =>
      holds
        ? relayNow(deps, "directory", pk, items)
        : deps.repo.outbox.delete(
            "directory",
            pk,
            items.map((i) => i.id),
          ),
    ),
  );
  return done;
}

export interface GroupInput extends Group {
  memberIds?: string[] | undefined;
}

/**
 * `PUT .../groups/{id}`: the group or list, and when `memberIds` is given its whole membership (up to
 * 50,000): only the difference from the stored membership is written, so a repeated or resumed
 * request finishes what an interrupted one started.
 */
export async function putGroup(
  deps: Deps,
  caller: Caller,
  input: GroupInput,
  gate: EnvironmentAdminGate = directoryGate,
): Promise<{ created: boolean; group: Group & { memberIds?: string[] } }> {
  await requireEnvironmentAdmin(deps, caller, input.envId, gate);
  const { memberIds: given, buckets: _ignored, ...named } = input;
  const memberIds = given ? [...new Set(given)] : undefined;
  const [previous] = await Promise.all([
    deps.repo.getGroup(named.envId, named.groupId),
    memberIds ? requireKnownUsers(deps, memberIds, "body.memberIds", given!) : undefined,
  ]);
  if (previous && previous.group.kind !== named.kind)
    throw invalid("a group's kind can't change", [{ field: "body.kind", message: `is ${previous.group.kind}` }]);
  const group: Group = { ...named, ...(previous?.group.buckets ? { buckets: previous.group.buckets } : {}) };
  const same = previous && previous.group.displayName === group.displayName;
  if (!same) await deps.repo.putGroup(group, previous);
  if (memberIds) {
    const stored = previous ? await deps.repo.groups.allMembers(group.envId, previous.group) : new Set<string>();
    const wanted = new Set(memberIds);
    await changeMembers(
      deps,
      group.envId,
      group,
      memberIds.filter((id) => !stored.has(id)),
      [...stored].filter((id) => !wanted.has(id)),
      true,
    );
  }
  return { created: !previous, group: { ...named, ...(memberIds ? { memberIds } : {}) } };
}

/** `PATCH .../groups/{id}/members`: adds and removes up to 1,000 members each; work follows what changes, not the group's size. */
export async function patchGroupMembers(
  deps: Deps,
  caller: Caller,
  envId: string,
  groupId: string,
  body: { add?: string[] | undefined; remove?: string[] | undefined },
  gate: EnvironmentAdminGate = directoryGate,
): Promise<{ added: string[]; removed: string[] }> {
  await requireEnvironmentAdmin(deps, caller, envId, gate);
  const add = [...new Set(body.add ?? [])];
  const remove = [...new Set(body.remove ?? [])];
  const both = add.filter((id) => remove.includes(id));
  if (both.length > 0)
    throw invalid(
      "a member can't be added and removed at once",
      both.map((id) => ({ field: `body.remove[${body.remove!.indexOf(id)}]`, message: `${id} is also in add` })),
    );
  const [found] = await Promise.all([
    deps.repo.getGroup(envId, groupId),
    requireKnownUsers(deps, add, "body.add", body.add ?? []),
  ]);
  if (!found) throw notFound(`group ${groupId} was not found in environment ${envId}`);
  const done = await changeMembers(deps, envId, found.group, add, remove);
  return { added: done.added, removed: done.removed };
}

/** `GET .../groups/{id}`: the group or list (members are listed page by page on their own route). */
export async function getGroup(deps: Deps, caller: Caller, envId: string, groupId: string): Promise<Group> {
  await requireEnvironmentAdmin(deps, caller, envId, directoryGate);
  const found = await deps.repo.getGroup(envId, groupId);
  if (!found) throw notFound(`group ${groupId} was not found in environment ${envId}`);
  const { buckets: _internal, ...group } = found.group;
  return group;
}

/** `GET .../groups/{id}/members`: its members page by page, in id order. */
export async function listGroupMembers(
  deps: Deps,
  caller: Caller,
  envId: string,
  groupId: string,
  q: { continuationToken?: string | undefined; top?: number | undefined },
): Promise<{ items: { userId: string }[]; continuationToken?: string | undefined }> {
  await requireEnvironmentAdmin(deps, caller, envId, directoryGate);
  const found = await deps.repo.getGroup(envId, groupId);
  if (!found) throw notFound(`group ${groupId} was not found in environment ${envId}`);
  // The store checks the token is one it gave out (400 otherwise).
  const page = await deps.repo.groups.membersPage(envId, found.group, q.continuationToken, q.top ?? 100);
  return {
    items: page.userIds.map((userId) => ({ userId })),
    ...(page.continuation ? { continuationToken: page.continuation } : {}),
  };
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
