import { fanoutMessageSchema, type FanoutMessage } from "../model/fanout.js";
import { isExpired, type IndexEntry, type PrincipalRef, type Resource } from "../model/records.js";
import { ownershipRoles, type Role } from "../rules/matrix.js";
import { PrincipalIndexRows, type Expiries } from "../store/principalIndexRows.js";
import type { Capabilities } from "./capabilities.js";
import { forEachLimit } from "./catalogWalk.js";
import { offboardStep } from "./offboarding.js";
import { ownerAlertId, ownerAlertJobs } from "./primaryOwner.js";
import { expiriesOf, groupGrantMessages, rolesOf, sendFanout } from "./relay.js";

type Deps = Pick<
  Capabilities,
  "repo" | "offboardings" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock"
>;

/** Members a message carries: what one handler run writes, about 100 rows. */
export const membersPerMessage = 100;
/**
 * Writes in flight within one message; the host runs up to 16 messages at once, so 64 in all. Azure
 * overlaps them; Azurite queues them, and with 256 waiting its requests outlasted the 5 s timeout.
 */
const parallelWrites = 4;
/** Rounds of write-then-check before a message gives up and lets the queue retry it. */
const maxRounds = 5;

/**
 * Handles one fan-out message (`functions/fanout.ts`). Each reads the state its rows derive from,
 * writes them, then reads that state again: if it changed meanwhile (a revoke, a member leaving),
 * the rows are written again from the newer state. So messages may run twice, late or out of order,
 * and members' listings still converge on what the grants and memberships say. A message that
 * doesn't parse is refused (the host moves it to the poison queue).
 */
export async function handleFanout(deps: Deps, raw: unknown): Promise<string> {
  const parsed = fanoutMessageSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`not a fan-out message: ${parsed.error.message}`);
  const m = parsed.data;
  switch (m.type) {
    case "grant":
      return m.memberIds ? grantToMembers(deps, m, m.memberIds) : splitGrant(deps, m);
    case "members":
      return membersJoinedOrLeft(deps, m);
    case "reindex":
      return reindex(deps, m.envId, m.resourceId);
    case "purge":
      return purge(deps, m.envId, m.resourceId);
    case "offboard":
      return offboardStep(deps, m);
  }
}

type GrantMessage = Extract<FanoutMessage, { type: "grant" }>;

/** A group's roles on one resource, from its grant rows (none when the resource is gone). */
async function groupRoles(deps: Deps, envId: string, resourceId: string, group: PrincipalRef) {
  const state = await deps.repo.resourceStateFor(envId, resourceId, []);
  return {
    resource: state?.resource,
    roles: state ? rolesOf(state.grants, group).sort() : [],
    // Members' rows through the group carry its grants' expiries, so their listings drop them at the instant.
    expiries: state ? expiriesOf(state.grants, group) : {},
  };
}

/**
 * A group's grant changed: its own row first (so a member who joins after the members are listed
 * below finds the resource in the group's index), then one message per 100 members.
 */
async function splitGrant(deps: Deps, m: GrantMessage): Promise<string> {
  const { resource, roles, expiries } = await groupRoles(deps, m.envId, m.resourceId, m.group);
  await deps.repo.index.set(m.group, m.envId, m.resourceId, "direct", roles, resource, expiries);
  // The group's buckets read 16 at a time, then one message per 100 members (a few buckets each,
  // so reading their membership back costs a few queries), sent 16 at a time.
  const found = await deps.repo.getGroup(m.envId, m.group.id);
  const members = found ? [...(await deps.repo.groups.allMembers(m.envId, found.group))] : [];
  const chunks: FanoutMessage[] = [];
  for (let i = 0; i < members.length; i += membersPerMessage)
    chunks.push({ ...m, memberIds: members.slice(i, i + membersPerMessage) });
  await forEachLimit(chunks, 16, (c) => deps.fanoutQueue.send(c));
  const messages = chunks.length;
  return `grant of ${m.group.type} ${m.group.id} on ${m.resourceId}: ${messages} member message(s)`;
}

/** Members' rows for one resource through one group: the group's roles for members, none for former ones. */
async function grantToMembers(deps: Deps, m: GrantMessage, memberIds: readonly string[]): Promise<string> {
  const read = () =>
    Promise.all([
      groupRoles(deps, m.envId, m.resourceId, m.group),
      deps.repo.groups.present(m.envId, m.group.id, memberIds),
    ]);
  const basis = ([g, present]: Awaited<ReturnType<typeof read>>) =>
    JSON.stringify([g.roles, g.expiries, g.resource?.kind, g.resource?.displayName, [...present].sort()]);
  let state = await read();
  for (let round = 1; ; round++) {
    const [{ resource, roles, expiries }, present] = state;
    await forEachLimit([...memberIds], parallelWrites, (id) =>
      deps.repo.index.set(
        { type: "user", id },
        m.envId,
        m.resourceId,
        m.group,
        present.has(id) ? roles : [],
        resource,
        expiries,
      ),
    );
    const fresh = await read();
    if (basis(fresh) === basis(state)) return `${memberIds.length} member(s) of ${m.group.id} on ${m.resourceId}`;
    if (round >= maxRounds) throw new Error(`${m.group.id} on ${m.resourceId} kept changing; the queue retries`);
    state = fresh;
  }
}

/**
 * Members joined or left a group: their rows for each resource the group holds (100 a message, the
 * next page sent on), written for members and removed for former members.
 */
async function membersJoinedOrLeft(deps: Deps, m: Extract<FanoutMessage, { type: "members" }>): Promise<string> {
  const read = () =>
    Promise.all([
      deps.repo.index.ownPage(m.envId, m.group, m.continuation),
      deps.repo.groups.present(m.envId, m.group.id, m.memberIds),
    ]);
  const basis = ([page, present]: Awaited<ReturnType<typeof read>>) =>
    JSON.stringify([page.entries, page.continuation ?? null, [...present].sort()]);
  let state = await read();
  const next = state[0].continuation;
  if (next) await sendFanout(deps, [{ ...m, continuation: next }]);
  for (let round = 1; ; round++) {
    const [page, present] = state;
    const viaGroup = page.entries.map((e): IndexEntry =>
      PrincipalIndexRows.entry({ ...e }, e.roles as Role[], m.group, e.expiries),
    );
    await forEachLimit([...m.memberIds], parallelWrites, async (id) => {
      const member: PrincipalRef = { type: "user", id };
      if (present.has(id)) await deps.repo.index.putMany(member, m.envId, viaGroup);
      else
        await deps.repo.index.deleteMany(
          member,
          viaGroup.map((e) => PrincipalIndexRows.rk(m.envId, e.resourceId, m.group)),
        );
    });
    const fresh = await read();
    if (basis(fresh) === basis(state)) {
      const alerts = await alertJoiners(deps, m, page.entries, present);
      return `${m.memberIds.length} member(s) of ${m.group.id} on ${page.entries.length} resource(s)${alerts ? `; ${alerts} owner alert(s)` : ""}`;
    }
    if (round >= maxRounds) throw new Error(`members of ${m.group.id} kept changing; the queue retries`);
    state = fresh;
  }
}

/**
 * Members who joined a group that holds owner or co-owner on resources of a sensitive environment:
 * the admins are alerted, one job per (resource, member, role) of this page, sent here, off the
 * request path, since a group can hold many resources. Each job's id is derived from the membership
 * change, the resource, the member and the role, so a message run twice, or again after a crash,
 * queues the same jobs and the mailer sends each once. A member who left again before this runs is
 * not named (they no longer hold the role).
 */
async function alertJoiners(
  deps: Deps,
  m: Extract<FanoutMessage, { type: "members" }>,
  entries: readonly { resourceId: string; roles: readonly string[] }[],
  present: ReadonlySet<string>,
): Promise<number> {
  const { changeId, actorId } = m;
  const joined = m.memberIds.slice(0, m.joinedCount ?? 0).filter((id) => present.has(id));
  const owned = entries.flatMap((e) =>
    ownershipRoles.filter((r) => e.roles.includes(r)).map((role) => ({ resourceId: e.resourceId, role })),
  );
  if (!changeId || !actorId || joined.length === 0 || owned.length === 0) return 0;
  // Read only when something could alert: most membership changes touch groups that own nothing.
  const env = await deps.repo.getEnvironment(m.envId);
  if (!env?.sensitive) return 0;
  const at = deps.clock().toISOString();
  const jobs = owned.flatMap(({ resourceId, role }) =>
    joined.flatMap((id) =>
      ownerAlertJobs(deps, env, resourceId, { type: "user", id }, actorId, at, {
        how: "groupMembership",
        role,
        via: m.group,
        alertId: ownerAlertId("groupMembership", changeId, resourceId, id, role),
      }),
    ),
  );
  await forEachLimit(jobs, 16, (j) => deps.emailQueue.send(j));
  return jobs.length;
}

/** Every grant of the resource, grouped by principal, and a basis to tell whether they changed. */
async function eachPrincipal(
  deps: Deps,
  envId: string,
  resourceId: string,
): Promise<{ principals: Map<string, { ref: PrincipalRef; roles: Role[]; expiries: Expiries }>; basis: string }> {
  const now = deps.clock();
  // The raw rows hold grants past their expiry that the timer hasn't removed yet: they give no role.
  const grants = (await deps.repo.grantRows(envId, resourceId)).filter((g) => !isExpired(g.expiresAt, now));
  const principals = new Map<string, { ref: PrincipalRef; roles: Role[]; expiries: Expiries }>();
  for (const g of grants) {
    const k = `${g.principalType}|${g.principalId}`;
    const p = principals.get(k) ?? { ref: { type: g.principalType, id: g.principalId }, roles: [], expiries: {} };
    p.roles.push(g.role);
    if (g.expiresAt) p.expiries[g.role] = g.expiresAt;
    principals.set(k, p);
  }
  return {
    principals,
    basis: JSON.stringify(grants.map((g) => [g.principalType, g.principalId, g.role, g.expiresAt ?? null])),
  };
}

/**
 * Each principal's own row for the resource (its roles; none once the resource is gone), then a
 * message per group or list for its members' rows.
 */
async function ownRowsThenMembers(
  deps: Deps,
  envId: string,
  resourceId: string,
  principals: readonly { ref: PrincipalRef; roles: Role[]; expiries: Expiries }[],
  resource: Resource | undefined,
): Promise<void> {
  await forEachLimit([...principals], parallelWrites, (p) =>
    deps.repo.index.set(p.ref, envId, resourceId, "direct", resource ? p.roles : [], resource, p.expiries),
  );
  await sendFanout(
    deps,
    groupGrantMessages(
      envId,
      resourceId,
      principals.map((p) => p.ref),
    ),
  );
}

/** A renamed resource: every principal's rows carry the new name. */
async function reindex(deps: Deps, envId: string, resourceId: string): Promise<string> {
  for (let round = 1; ; round++) {
    const meta = await deps.repo.rawResourceMeta(envId, resourceId);
    if (!meta?.resource) return `${resourceId} is gone; its purge removes the rows`;
    const resource = meta.resource;
    const { principals, basis } = await eachPrincipal(deps, envId, resourceId);
    await ownRowsThenMembers(deps, envId, resourceId, [...principals.values()], resource);
    const [again, metaAgain] = await Promise.all([
      eachPrincipal(deps, envId, resourceId),
      deps.repo.rawResourceMeta(envId, resourceId),
    ]);
    if (again.basis === basis && metaAgain?.resource?.displayName === resource.displayName)
      return `${principals.size} principal(s) of ${resourceId} reindexed`;
    if (round >= maxRounds) throw new Error(`${resourceId} kept changing; the queue retries`);
  }
}

/**
 * A deleted resource: every principal's rows go (groups' members through their own fan-out, which
 * finds no grant on a tombstone), then the catalog row and the partition, its tombstone last.
 */
async function purge(deps: Deps, envId: string, resourceId: string): Promise<string> {
  const meta = await deps.repo.rawResourceMeta(envId, resourceId);
  if (meta?.resource) return `${resourceId} exists again; nothing to purge`;
  const { principals } = await eachPrincipal(deps, envId, resourceId);
  await ownRowsThenMembers(deps, envId, resourceId, [...principals.values()], undefined);
  await deps.repo.deleteCatalog(envId, resourceId);
  if (meta) await deps.repo.purgeResource(envId, resourceId);
  return `${resourceId} purged (${principals.size} principal(s))`;
}
