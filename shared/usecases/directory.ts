import { forbidden, invalid, notFound } from "../errors.js";
import {
  groupRef,
  idSchema,
  securityRoleSchema,
  type Environment,
  type Group,
  type Membership,
  type TenantUser,
} from "../model/records.js";
import type { OutboxItem } from "../model/outbox.js";
import { keys } from "../store/keys.js";
import { requireEnvironmentPart } from "./access.js";
import { requireEnvironmentAdmin, type EnvironmentAdminGate } from "./adminGate.js";
import { isAppAdmin, isAppProvisioner, systemActor, type Capabilities, type Caller } from "./capabilities.js";
import { changeEntry, logItem, outboxItems } from "./mutate.js";
import { factsOf, sameFacts } from "../model/memberFacts.js";
import { recheckMemberFacts } from "./memberFacts.js";
import { relayNow } from "./relay.js";

type Deps = Pick<Capabilities, "repo" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock">;

const isBuiltInRole = (r: string) => securityRoleSchema.safeParse(r).success;

function requireAppAdmin(caller: Caller): void {
  if (!isAppAdmin(caller)) throw forbidden("this needs the Sharing.Admin app role");
}

/** The tenant directory's users: `Sharing.Admin` apps, and the directory sync service (`Sharing.Provisioning`). */
function requireDirectoryApp(caller: Caller): void {
  if (!isAppAdmin(caller) && !isAppProvisioner(caller))
    throw forbidden("this needs the Sharing.Admin or Sharing.Provisioning app role");
}

/**
 * App admins, the directory sync service (`Sharing.Provisioning`), or the environment's own enabled
 * SystemAdministrators manage (and read) its members and groups.
 */
export const directoryGate: EnvironmentAdminGate = {
  refusal:
    "managing an environment's members and groups needs its SystemAdministrator role (as an enabled user) or the Sharing.Admin or Sharing.Provisioning app role",
  alsoApps: isAppProvisioner,
};

/** The fields an admin sets, to tell an update from a repeat (`lastAuditAt` is the audit's). */
const sameEnvironment = (a: Environment, b: Environment) => {
  const { lastAuditAt: _a, ...x } = a;
  const { lastAuditAt: _b, ...y } = b;
  return JSON.stringify(x, Object.keys(x).sort()) === JSON.stringify(y, Object.keys(y).sort());
};

/** The log says when the data loss prevention policy changed, since flows are judged by it from then on. */
const dlpChange = (previous: Environment | undefined, next: Environment) =>
  JSON.stringify(previous?.dlp ?? null) === JSON.stringify(next.dlp ?? null)
    ? ""
    : next.dlp
      ? "; data loss prevention policy set"
      : "; data loss prevention policy removed";

/** The profile fields a change of the tenant user logs. */
const userFields = ["email", "displayName", "userType", "enabled", "license"] as const;

const changedUserFields = (a: TenantUser, b: TenantUser) => userFields.filter((f) => a[f] !== b[f]);

/** What changed in a profile, for the change log's detail. */
function userChanges(a: TenantUser, b: TenantUser): string {
  return changedUserFields(a, b)
    .map((f) => `${f} ${String(a[f])} → ${String(b[f])}`)
    .join(", ");
}

export async function putEnvironment(
  deps: Deps,
  caller: Caller,
  env: Environment,
): Promise<{ created: boolean; environment: Environment }> {
  requireAppAdmin(caller);
  const [previous, successor] = await Promise.all([
    deps.repo.getEnvironment(env.envId),
    env.defaultSuccessorId ? deps.repo.getUser(env.defaultSuccessorId) : undefined,
  ]);
  // The last link of the offboarding successor chain must be someone the directory knows (whether they
  // can own is checked when a resource reaches them, since roles change).
  if (env.defaultSuccessorId && !successor)
    throw invalid("the default successor is not in the tenant directory", [
      { field: "body.defaultSuccessorId", message: `unknown user ${env.defaultSuccessorId}` },
    ]);
  const stored: Environment = { ...env, ...(previous?.lastAuditAt ? { lastAuditAt: previous.lastAuditAt } : {}) };
  // The log entry is an outbox row of the environment's own transaction: a crash after it is relayed by the sweeper.
  const items =
    previous && sameEnvironment(previous, stored)
      ? []
      : outboxItems(deps, [
          logItem(deps, env.envId, caller, {
            action: previous ? "environment.updated" : "environment.created",
            detail: `${previous ? "updated" : "created"} environment ${stored.displayName}${dlpChange(previous, stored)}`,
          }),
        ]);
  await deps.repo.putEnvironment(stored, items);
  if (items.length > 0) await relayNow(deps, "environments", keys.environmentPk, items);
  return { created: !previous, environment: stored };
}

export async function putUser(
  deps: Deps,
  caller: Caller,
  user: TenantUser,
): Promise<{ created: boolean; user: TenantUser }> {
  requireDirectoryApp(caller);
  return storeUser(deps, caller, user);
}

/**
 * Writes a tenant user's profile, and the facts environments keep of it: for callers that checked
 * who may (`putUser`; provisioning, which creates and updates the users it provisions).
 */
export async function storeUser(
  deps: Deps,
  caller: Caller,
  user: TenantUser,
): Promise<{ created: boolean; user: TenantUser }> {
  const previous = await deps.repo.getUser(user.userId);
  // Environments keep the facts audits read on their member rows, and log a profile change: both
  // follow through the outbox, written with the profile, so a crash before the relay leaves them to
  // the sweeper. A new user is in no environment yet, so there is nothing to log.
  const items =
    previous && changedUserFields(previous, user).length > 0
      ? outboxItems(deps, [
          ...(sameFacts(factsOf(previous), factsOf(user))
            ? []
            : [{ type: "memberFacts" as const, userId: user.userId }]),
          {
            type: "userLog" as const,
            userId: user.userId,
            entry: changeEntry(deps, {
              actorId: caller.principalId,
              action: "user.updated",
              principal: { type: "user", id: user.userId },
              detail: `updated the tenant user: ${userChanges(previous, user)}`.slice(0, 2000),
            }),
          },
        ])
      : [];
  await deps.repo.putUser(user, items);
  if (items.length > 0) await relayNow(deps, "principals", keys.principalPk({ type: "user", id: user.userId }), items);
  return { created: !previous, user };
}

export async function putMembership(
  deps: Deps,
  caller: Caller,
  m: Omit<Membership, "addedBy">,
  gate: EnvironmentAdminGate = directoryGate,
): Promise<{ created: boolean; membership: Membership }> {
  await requireEnvironmentAdmin(deps, caller, m.envId, gate);
  const [user, previous, customRoles] = await Promise.all([
    deps.repo.getUser(m.userId),
    deps.repo.getMembership(m.envId, m.userId),
    // One row, whatever the number of roles named: the environment's custom roles are capped.
    deps.repo.securityRoles.privileges(m.envId),
  ]);
  if (!user) throw notFound(`user ${m.userId} is not in the tenant directory`);
  const unknownRoles = m.securityRoles.flatMap((r, i) =>
    isBuiltInRole(r) || Object.hasOwn(customRoles.row.roles, r)
      ? []
      : [{ field: `body.securityRoles[${i}]`, message: `environment ${m.envId} has no security role ${r}` }],
  );
  if (unknownRoles.length > 0) throw invalid("some security roles are unknown", unknownRoles);
  const membership: Membership = {
    ...m,
    securityRoles: [...new Set(m.securityRoles)],
    addedBy: previous?.addedBy ?? "admin",
    // Suspension is provisioning's to lift (SCIM `active`), not a side effect of setting roles.
    ...(previous?.suspended === true ? { suspended: true } : {}),
  };
  const roles = (x: Membership) => [...x.securityRoles].sort().join(", ");
  const items =
    previous && roles(previous) === roles(membership)
      ? []
      : outboxItems(deps, [
          logItem(deps, m.envId, caller, {
            action: previous ? "membership.updated" : "membership.added",
            principal: { type: "user", id: m.userId },
            detail: `security roles: ${roles(membership) || "none"}`,
          }),
        ]);
  await deps.repo.putMembership(membership, factsOf(user), items);
  if (items.length > 0) await relayNow(deps, "directory", keys.directoryPk(m.envId), items);
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
  caller: Caller,
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
    // Each committed chunk is one membership change: its id makes the owner alerts its joiners get
    // (fanout.ts) the same however often the message is sent or run.
    (memberIds, added) =>
      outboxItems(deps, [
        {
          type: "fanout",
          messages: [
            {
              type: "members",
              envId,
              group: ref,
              memberIds,
              joinedCount: added.length,
              changeId: deps.newId(),
              // A token's `sub` may not be an id the message schema takes; an unparsable message would stall listings.
              actorId: idSchema.safeParse(caller.principalId).success ? caller.principalId : systemActor,
            },
          ],
        },
      ])[0]!,
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
  if (!same) {
    const items = outboxItems(deps, [
      logItem(deps, group.envId, caller, {
        action: previous ? "group.updated" : "group.created",
        principal: groupRef(group),
        detail: `${previous ? "renamed" : "created"} ${group.kind} ${group.displayName}`,
      }),
    ]);
    await deps.repo.putGroup(group, previous, items);
    await relayNow(deps, "directory", keys.directoryPk(group.envId), items);
  }
  if (memberIds) {
    const stored = previous ? await deps.repo.groups.allMembers(group.envId, previous.group) : new Set<string>();
    const wanted = new Set(memberIds);
    const done = await changeMembers(
      deps,
      caller,
      group.envId,
      group,
      memberIds.filter((id) => !stored.has(id)),
      [...stored].filter((id) => !wanted.has(id)),
      true,
    );
    await logMembers(deps, caller, group, done);
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
  const done = await changeMembers(deps, caller, envId, found.group, add, remove);
  await logMembers(deps, caller, found.group, done);
  return { added: done.added, removed: done.removed };
}

/**
 * One change log entry for a membership change, with its counts, however many members it touched.
 * Written once the members' rows are: a crash in between loses only the entry, and repeating the
 * request (which finishes an interrupted change) logs what the repeat changed.
 */
async function logMembers(
  deps: Deps,
  caller: Caller,
  group: Group,
  done: { added: readonly string[]; removed: readonly string[] },
): Promise<void> {
  if (done.added.length === 0 && done.removed.length === 0) return;
  await deps.repo.putEnvironmentChange(
    group.envId,
    changeEntry(deps, {
      actorId: caller.principalId,
      action: "group.members",
      principal: groupRef(group),
      detail: `added ${done.added.length} and removed ${done.removed.length} member(s) of ${group.displayName}`,
      counts: { added: done.added.length, removed: done.removed.length },
    }),
  );
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
