import type { OutboxItem } from "../model/outbox.js";
import type { CloudEvent } from "../model/webhooks.js";
import { cloudEventOf } from "../webhooks/events.js";
import type { FanoutMessage } from "../model/fanout.js";
import type { ChangeEntry, Grant, PrincipalRef, Resource } from "../model/records.js";
import { isRoleOf, ownershipRoles, type Role } from "../rules/matrix.js";
import type { Expiries } from "../store/principalIndexRows.js";
import type { OutboxTable } from "../store/outboxRows.js";
import type { Capabilities } from "./capabilities.js";
import { forEachLimit } from "./catalogWalk.js";
import { applyMemberFacts } from "./memberFacts.js";
import { offboardIfDisabled } from "./offboardingTrigger.js";

type Deps = Pick<Capabilities, "repo" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log">;

/** What a change knows right after its commit: the resource and each named principal's roles on it. */
export interface Known {
  resource: Resource;
  roles: ReadonlyMap<string, Role[]>;
  /** Each principal's expiring roles; absent, the rows are written without and the check after the write adds them. */
  expiries?: ReadonlyMap<string, Expiries> | undefined;
}

export const principalKey = (p: PrincipalRef) => `${p.type}|${p.id}`;

/** The roles each principal holds on the resource by its own grants. */
export function rolesOf(grants: readonly Grant[], p: PrincipalRef): Role[] {
  return grants.filter((g) => g.principalType === p.type && g.principalId === p.id).map((g) => g.role);
}

/** The `expiresAt` of each of the principal's own grants that has one. */
export function expiriesOf(grants: readonly Grant[], p: PrincipalRef): Expiries {
  const out: Expiries = {};
  for (const g of grants)
    if (g.principalType === p.type && g.principalId === p.id && g.expiresAt) out[g.role] = g.expiresAt;
  return out;
}

/**
 * Applies outbox items and removes their rows. A change's own items are relayed right after its
 * commit (so the caller reads its own writes); the sweeper relays what a crash left behind. Every
 * item is idempotent and reads (or is given) current state, so applying one twice or late is safe.
 *
 * The round trips on a change's path: the items' effects go together (index rows of the named
 * principals, the change log, the email and fan-out messages); then, together again, the outbox rows
 * are removed and the index rows just written are checked against the grants as they are now, in
 * case another change of the same principals landed in between (then they are written again).
 * Emails may leave before the other effects land: the mailer sends each job once, so a sweeper's
 * second job is harmless.
 */
export async function relayItems(
  deps: Deps,
  table: OutboxTable,
  pk: string,
  items: readonly OutboxItem[],
  known?: Known,
): Promise<void> {
  if (items.length === 0) return;
  const sorted = [...items].sort((a, b) => (a.id < b.id ? -1 : 1));
  const checks = await Promise.all(sorted.map((item) => applyItem(deps, item, known)));
  // Removed together once all are applied; if anything failed, nothing is removed and the sweeper
  // applies them all again.
  await Promise.all([
    deps.repo.outbox.delete(
      table,
      pk,
      sorted.map((i) => i.id),
    ),
    ...checks.map((check) => check?.()),
  ]);
}

/** Applies and removes every outbox item of one partition. */
export async function relayPartition(deps: Deps, table: OutboxTable, pk: string): Promise<void> {
  const items = await deps.repo.outbox.items(table, pk);
  await relayItems(
    deps,
    table,
    pk,
    items.map((i) => i.item),
  );
}

/**
 * Relays a change's own items right away; a failure is left to the sweeper, never lost. Returns
 * whether they were relayed (a caller whose partition the sweeper doesn't scan keeps its own marker).
 */
export async function relayNow(
  deps: Deps,
  table: OutboxTable,
  pk: string,
  items: readonly OutboxItem[],
  known?: Known,
): Promise<boolean> {
  try {
    await relayItems(deps, table, pk, items, known);
    return true;
  } catch (e) {
    deps.log(
      `relay of ${table}/${pk} failed and is left for the sweeper: ${e instanceof Error ? e.message : String(e)}`,
    );
    return false;
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

/** Applies one item; returns the check to run beside the outbox cleanup, if it has one. */
async function applyItem(
  deps: Deps,
  item: OutboxItem,
  known: Known | undefined,
): Promise<(() => Promise<void>) | undefined> {
  switch (item.type) {
    case "index":
      return applyIndex(deps, item.envId, item.resourceId, item.principals, known);
    case "catalog": {
      const meta = await deps.repo.rawResourceMeta(item.envId, item.resourceId);
      if (meta?.resource) await deps.repo.putCatalog(meta.resource);
      else await deps.repo.deleteCatalog(item.envId, item.resourceId);
      return undefined;
    }
    case "log":
      // The events go beside the entries, not after them: no round trip more on the change's path.
      await Promise.all([
        ...item.entries.map((e) => deps.repo.putEnvironmentChange(item.envId, e)),
        sendEvents(deps, item.envId, item.entries),
      ]);
      return undefined;
    case "email":
      await Promise.all(item.jobs.map((j) => deps.emailQueue.send(j)));
      return undefined;
    case "fanout":
      await sendFanout(deps, item.messages);
      return undefined;
    case "memberFacts":
      // A disabled user is a leaver in each environment they are in: those with autoOffboard start
      // their offboarding. The item stays in the outbox until this is sent, so a crash loses nothing.
      await offboardIfDisabled(deps, item.userId, await applyMemberFacts(deps, item.userId));
      return undefined;
    case "owners":
      await applyOwners(deps, item.envId, item.resourceId, item.principals);
      return undefined;
    case "userLog": {
      // One row per environment the user is in (their `envs|` rows), under the entry's own id: a
      // second application writes the same rows.
      const envIds = await deps.repo.memberFacts.environmentsOf(item.userId);
      await forEachLimit(envIds, 16, (envId) => deps.repo.putEnvironmentChange(envId, item.entry));
      return undefined;
    }
    case "expiry":
      await deps.repo.expiries.put(item.rows, deps.repo.now());
      return undefined;
  }
}

/**
 * The events of committed change log entries, one webhook queue message each, for the delivery
 * trigger (`usecases/webhookDelivery.ts`) to hand to the subscriptions that want them. A relay that
 * runs twice sends them twice; the delivery rows make the repeat do nothing.
 */
export async function sendEvents(
  deps: Pick<Deps, "webhookQueue">,
  envId: string,
  entries: readonly ChangeEntry[],
): Promise<void> {
  const events = entries.map((e) => cloudEventOf(envId, e)).filter((e): e is CloudEvent => e !== undefined);
  await Promise.all(events.map((event) => deps.webhookQueue.send({ kind: "event", envId, event })));
}

export async function sendFanout(deps: Pick<Deps, "fanoutQueue">, messages: readonly FanoutMessage[]): Promise<void> {
  await Promise.all(messages.map((m) => deps.fanoutQueue.send(m)));
}

/**
 * Brings the named principals' own index rows for one resource in line with their grants: one write
 * each, from the state the change committed (`known`) or read now. A group's or list's members
 * follow through the fan-out queue. The returned check reads the grants again and, if another
 * change of these principals landed meanwhile, writes the rows again from what it read.
 */
async function applyIndex(
  deps: Deps,
  envId: string,
  resourceId: string,
  principals: readonly PrincipalRef[],
  known: Known | undefined,
): Promise<() => Promise<void>> {
  /** What the rows derive from: the resource (none once deleted) and each principal's roles. */
  type Basis = { resource: Resource | undefined; roles: Role[][]; expiries: Expiries[] };
  const read = async (): Promise<Basis> => {
    const state = await deps.repo.resourceStateFor(envId, resourceId, principals);
    return {
      resource: state?.resource,
      roles: principals.map((p) => (state ? rolesOf(state.grants, p) : [])),
      expiries: principals.map((p) => (state ? expiriesOf(state.grants, p) : {})),
    };
  };
  const canon = (b: Basis) =>
    JSON.stringify([
      b.resource?.kind,
      b.resource?.displayName,
      b.roles.map((r) => [...r].sort()),
      b.expiries.map((e, i) =>
        Object.entries(e)
          .filter(([r]) => b.roles[i]!.includes(r as Role))
          .sort(),
      ),
    ]);
  const same = (a: Basis, b: Basis) => canon(a) === canon(b);
  const write = (b: Basis) =>
    Promise.all(
      principals.map((p, i) =>
        deps.repo.index.set(p, envId, resourceId, "direct", b.roles[i]!, b.resource, b.expiries[i]),
      ),
    );
  const usable =
    known && known.resource.resourceId === resourceId && principals.every((p) => known.roles.has(principalKey(p)));
  let current: Basis = usable
    ? {
        resource: known.resource,
        roles: principals.map((p) => known.roles.get(principalKey(p))!),
        expiries: principals.map((p) => known.expiries?.get(principalKey(p)) ?? {}),
      }
    : await read();
  await Promise.all([write(current), sendFanout(deps, groupGrantMessages(envId, resourceId, principals))]);
  return async () => {
    for (let round = 1; ; round++) {
      const fresh = await read();
      if (same(fresh, current)) return;
      // Another change of these principals landed between the commit and the write: write again.
      if (round >= 5) throw new Error(`the grants of ${resourceId} kept changing while its index was brought in line`);
      await write(fresh);
      current = fresh;
    }
  };
}

/**
 * Brings the named principals' `owner|` rows of the resource in line with their ownership grants, as
 * read now. Written, then read again and written again if the grants changed meanwhile (two relays of
 * one principal's share and revoke may finish in either order: the last writer writes the newest).
 * Nothing for a deleted resource, whose partition the purge removes.
 */
async function applyOwners(
  deps: Deps,
  envId: string,
  resourceId: string,
  principals: readonly PrincipalRef[],
): Promise<void> {
  const read = async () => {
    const state = await deps.repo.resourceStateFor(envId, resourceId, principals);
    if (!state) return undefined;
    const roles = ownershipRoles.filter((r) => isRoleOf(state.resource.kind, r));
    return principals.flatMap((p) =>
      roles.map((role) => {
        const expiresAt = expiriesOf(state.grants, p)[role];
        return {
          principalType: p.type,
          principalId: p.id,
          role,
          held: rolesOf(state.grants, p).includes(role),
          ...(expiresAt ? { expiresAt } : {}),
        };
      }),
    );
  };
  let rows = await read();
  for (let round = 1; rows; round++) {
    await deps.repo.putOwnerRows(envId, resourceId, rows);
    const fresh = await read();
    if (!fresh || JSON.stringify(fresh) === JSON.stringify(rows)) return;
    if (round >= 5) throw new Error(`the owners of ${resourceId} kept changing while their rows were written`);
    rows = fresh;
  }
}

/** A fan-out message for each group or list among the principals: its members follow its grants on the resource. */
export function groupGrantMessages(
  envId: string,
  resourceId: string,
  principals: readonly PrincipalRef[],
): FanoutMessage[] {
  return principals
    .filter((p): p is PrincipalRef & { type: "group" | "sharePointList" } => p.type !== "user")
    .map((group) => ({ type: "grant" as const, envId, resourceId, group }));
}
