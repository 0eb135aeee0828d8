import { keys } from "../store/keys.js";
import type { OutboxItem } from "../model/outbox.js";
import type { IndexEntry } from "../model/records.js";
import type { ResourceState } from "../store/repository.js";
import type { PrincipalRef } from "../model/records.js";
import type { OutboxTable } from "../store/outboxRows.js";
import type { Capabilities } from "./capabilities.js";
import { applyMemberFacts } from "./memberFacts.js";

type Deps = Pick<Capabilities, "repo" | "emailQueue" | "log">;

/**
 * Applies and removes the outbox items of one partition. Called right after each change (so the
 * caller reads its own writes) and by the sweeper for partitions a crash left items in. Items are
 * idempotent, so a crash halfway through is repaired by running again. `only`: just these items
 * (a change relays its own; leaving the others' to their own relays keeps concurrent changes of one
 * resource from each applying all of them).
 */
export async function relayPartition(
  deps: Deps,
  table: OutboxTable,
  pk: string,
  only?: ReadonlySet<string>,
): Promise<void> {
  const items = (await deps.repo.outbox.items(table, pk)).filter((i) => !only || only.has(i.item.id));
  if (items.length === 0) return;
  items.sort((a, b) => (a.item.id < b.item.id ? -1 : 1));
  const states = new Map<string, Promise<ResourceState | undefined>>();
  if (table === "resources") {
    // A resource's items don't depend on each other's order (each reads current state), so they go
    // together, in two phases: emails only once the rest has landed (so a failure before then
    // queues no job the sweeper would queue again), and a purge, which removes the partition's
    // rows, last.
    const last = (i: (typeof items)[number]) => i.item.type === "email" || i.item.type === "purge";
    await Promise.all(items.filter((i) => !last(i)).map((i) => applyItem(deps, i.item, states)));
    await Promise.all(items.filter((i) => i.item.type === "email").map((i) => applyItem(deps, i.item, states)));
    for (const p of items.filter((i) => i.item.type === "purge")) await applyItem(deps, p.item, states);
  } else {
    // Group syncs carry member deltas: they apply in the order written (and so do member facts).
    for (const { item } of items) await applyItem(deps, item, states);
  }
  // Removed together once all are applied; if anything failed, nothing is removed and the sweeper
  // applies them all again, which idempotent items allow.
  await deps.repo.outbox.delete(
    table,
    pk,
    items.map((i) => i.item.id),
  );
}

/** Relays a change's outbox right away (all of the partition's, or `only` these ids); a failure is left to the sweeper, never lost. */
export async function relayNow(deps: Deps, table: OutboxTable, pk: string, only?: readonly string[]): Promise<void> {
  try {
    await relayPartition(deps, table, pk, only ? new Set(only) : undefined);
  } catch (e) {
    deps.log(
      `relay of ${table}/${pk} failed and is left for the sweeper: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** The sweeper: relays every partition with outbox items left behind. Returns how many it relayed. */
export async function sweepOutbox(deps: Deps): Promise<number> {
  let count = 0;
  for await (const p of deps.repo.outbox.pendingPartitions()) {
    await relayPartition(deps, p.table, p.pk);
    count++;
  }
  return count;
}

async function applyItem(
  deps: Deps,
  item: OutboxItem,
  states: Map<string, Promise<ResourceState | undefined>>,
): Promise<void> {
  const stateOf = (envId: string, resourceId: string) => {
    const k = keys.resourcePk(envId, resourceId);
    let s = states.get(k);
    if (!s) {
      s = deps.repo.resourceState(envId, resourceId);
      states.set(k, s);
    }
    return s;
  };
  switch (item.type) {
    case "index": {
      // Index rows are written from the grants as read. If they changed after that read and another
      // relay already wrote the newer rows, these older ones would overwrite them; so the state is
      // read again after writing, and if what these rows derive from changed, they are written again.
      let state = await stateOf(item.envId, item.resourceId);
      for (let round = 1; ; round++) {
        for (const p of item.principals) await reconcilePrincipal(deps, item.envId, item.resourceId, state, p);
        const fresh = await deps.repo.resourceState(item.envId, item.resourceId);
        if (indexBasis(fresh, item.principals) === indexBasis(state, item.principals)) return;
        // Still changing after a few rounds: the item stays for a later relay or the sweeper.
        if (round >= 5)
          throw new Error(`the grants of ${item.resourceId} kept changing while its index was brought in line`);
        state = fresh;
        states.set(keys.resourcePk(item.envId, item.resourceId), Promise.resolve(fresh));
      }
    }
    case "catalog": {
      const state = await stateOf(item.envId, item.resourceId);
      if (state) await deps.repo.putCatalog(state.resource);
      else await deps.repo.deleteCatalog(item.envId, item.resourceId);
      return;
    }
    case "log":
      await Promise.all(item.entries.map((e) => deps.repo.putEnvironmentChange(item.envId, e)));
      return;
    case "email":
      await Promise.all(item.jobs.map((j) => deps.emailQueue.send(j)));
      return;
    case "purge": {
      for (const p of item.principals) await reconcilePrincipal(deps, item.envId, item.resourceId, undefined, p);
      await deps.repo.deleteCatalog(item.envId, item.resourceId);
      await deps.repo.purgeResource(item.envId, item.resourceId);
      return;
    }
    case "groupSync": {
      const resources = await deps.repo.index.resources(item.envId, item.group);
      for (const userId of item.added) await deps.repo.setMemberOf(item.envId, userId, item.group, true);
      for (const userId of item.removed) await deps.repo.setMemberOf(item.envId, userId, item.group, false);
      for (const resourceId of resources) {
        const state = await stateOf(item.envId, resourceId);
        for (const userId of [...item.added, ...item.removed]) {
          await reconcilePrincipal(deps, item.envId, resourceId, state, { type: "user", id: userId });
        }
      }
      return;
    }
    case "memberFacts":
      await applyMemberFacts(deps, item.userId);
      return;
  }
}

/**
 * What the index rows of these principals are computed from: the resource's kind and name, and the
 * grants that can reach them (their own and every group's or list's; every grant when a group's
 * members are among them).
 */
function indexBasis(state: ResourceState | undefined, principals: readonly PrincipalRef[]): string {
  if (!state) return "";
  const users = principals.every((p) => p.type === "user") ? new Set(principals.map((p) => p.id)) : undefined;
  const grants = state.grants
    .filter((g) => !users || g.principalType !== "user" || users.has(g.principalId))
    .map((g) => `${g.principalType}|${g.principalId}|${g.role}`);
  return JSON.stringify([state.resource.kind, state.resource.displayName, grants.sort()]);
}

/**
 * Makes a principal's index rows for one resource match the grants. For a group or list, its own
 * rows and each member's rows; for a user, direct grants and grants through the groups they are in.
 */
async function reconcilePrincipal(
  deps: Deps,
  envId: string,
  resourceId: string,
  state: ResourceState | undefined,
  principal: PrincipalRef,
): Promise<void> {
  const grants = state?.grants ?? [];
  const entry = (role: IndexEntry["role"], through: IndexEntry["through"]): IndexEntry => ({
    resourceId,
    role,
    through,
    kind: state!.resource.kind,
    displayName: state!.resource.displayName,
  });
  if (principal.type === "user") {
    const ctx = await deps.repo.principalContext(envId, principal.id);
    const wanted: IndexEntry[] = [];
    for (const g of grants) {
      if (g.principalType === "user" && g.principalId === principal.id) wanted.push(entry(g.role, "direct"));
      else if (ctx.memberOf.some((m) => m.type === g.principalType && m.id === g.principalId)) {
        wanted.push(entry(g.role, { type: g.principalType, id: g.principalId }));
      }
    }
    await deps.repo.index.set(principal, envId, resourceId, wanted);
    return;
  }
  const own = grants
    .filter((g) => g.principalType === principal.type && g.principalId === principal.id)
    .map((g) => entry(g.role, "direct"));
  await deps.repo.index.set(principal, envId, resourceId, own);
  const group = await deps.repo.getGroup(envId, principal.id);
  for (const memberId of group?.group.memberIds ?? []) {
    await reconcilePrincipal(deps, envId, resourceId, state, { type: "user", id: memberId });
  }
}
