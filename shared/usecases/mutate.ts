import { ConcurrencyError, conflict } from "../errors.js";
import type { ChangeEntry, PrincipalRef, Resource } from "../model/records.js";
import { ownershipRoles } from "../rules/matrix.js";
import { keys } from "../store/keys.js";
import type { OutboxItem, OutboxItemInput } from "../model/outbox.js";
import type { ResourceChange } from "../store/repository.js";
import { encodedLength, maxJsonChars } from "../store/rowJson.js";
import type { Capabilities, Caller } from "./capabilities.js";
import { principalKey, relayNow, type Known } from "./relay.js";

type Deps = Pick<Capabilities, "repo" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId">;

/**
 * Gives a change's outbox items ids that sort in the order written, so the relay applies them in that
 * order. An item whose list outgrows one row property (the principals of a resource shared with
 * hundreds) becomes several items of the same type, each with part of the list.
 */
export function outboxItems(deps: Pick<Capabilities, "newId">, items: OutboxItemInput[]): OutboxItem[] {
  const base = deps.newId();
  return items
    .flatMap(splitToFit)
    .map((i, n) => ({ ...i, id: `${base}.${n.toString().padStart(2, "0")}` }) as OutboxItem);
}

/**
 * Splitting is safe for these types: each element is applied on its own and idempotently (an index or
 * fan-out item per message, a log item per entry, an email item per job), so the parts do what the
 * whole did.
 */
function splitToFit(item: OutboxItemInput): OutboxItemInput[] {
  if (encodedLength(item) <= maxJsonChars) return [item];
  switch (item.type) {
    case "index":
      return byLength(item.principals).map((principals) => ({ ...item, principals }));
    case "log":
      return byLength(item.entries).map((entries) => ({ ...item, entries }));
    case "email":
      return byLength(item.jobs).map((jobs) => ({ ...item, jobs }));
    case "fanout":
      return byLength(item.messages).map((messages) => ({ ...item, messages }));
    default:
      return [item];
  }
}

/** Consecutive parts of a list, each under `maxJsonChars` once encoded (with room for the item around it). */
function byLength<T>(list: readonly T[]): T[][] {
  const budget = maxJsonChars - 1_000;
  const parts: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const element of list) {
    const n = encodedLength(element) + 1;
    if (current.length > 0 && size + n > budget) {
      parts.push(current);
      current = [];
      size = 0;
    }
    current.push(element);
    size += n;
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

export function changeEntry(
  deps: Pick<Capabilities, "newId" | "clock">,
  entry: Omit<ChangeEntry, "changeId" | "at">,
): ChangeEntry {
  return { changeId: deps.newId(), at: deps.clock().toISOString(), ...entry };
}

/** The outbox item that writes one entry of an environment's change log, made by the caller. */
export function logItem(
  deps: Pick<Capabilities, "newId" | "clock">,
  envId: string,
  caller: Caller,
  entry: Omit<ChangeEntry, "changeId" | "at" | "actorId">,
): OutboxItemInput {
  return { type: "log", envId, entries: [changeEntry(deps, { actorId: caller.principalId, ...entry })] };
}

/**
 * Runs read-decide-write against one resource with optimistic concurrency: `attempt` reads and
 * returns the change to commit; when another writer got there first (ETag mismatch) it runs again
 * on fresh state. After the commit the change's own outbox items are relayed at once (items other
 * changes left behind are theirs, or the sweeper's).
 */
/** Attempts of one change against concurrent writers before it answers 409. */
const maxTries = 10;

export async function changeResource<T>(
  deps: Deps,
  attempt: () => Promise<{ change?: ResourceChange | undefined; result: T; known?: Known | undefined }>,
): Promise<T> {
  for (let tries = 1; ; tries++) {
    const { change: asked, result, known } = await attempt();
    if (!asked) return result;
    const change = withOwnerRows(deps, asked);
    try {
      await deps.repo.commit(change);
    } catch (e) {
      if (!(e instanceof ConcurrencyError)) throw e;
      if (tries < maxTries) {
        // A random pause that doubles: N writers of one resource spread out instead of colliding in
        // lockstep (without it, 12 concurrent shares of one resource left 5 with a 409).
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(250, 10 * 2 ** tries)));
        continue;
      }
      throw conflict(`resource ${change.resource.resourceId} kept changing while this request ran; try again`);
    }
    if (change.outbox?.length)
      await relayNow(
        deps,
        "resources",
        keys.resourcePk(change.resource.envId, change.resource.resourceId),
        change.outbox,
        known,
      );
    return result;
  }
}

/**
 * Every change of an ownership grant (owner, co-owner) goes through here, so here it gains the one
 * outbox item that brings the resource's `owner|` rows in line (one row in the transaction, however
 * many grants change): the resources listing reads owners from those rows.
 */
function withOwnerRows(deps: Pick<Capabilities, "newId">, change: ResourceChange): ResourceChange {
  if (change.tombstone) return change;
  const changed = new Map<string, PrincipalRef>();
  for (const g of change.putGrants ?? [])
    if (ownershipRoles.includes(g.role))
      changed.set(principalKey({ type: g.principalType, id: g.principalId }), {
        type: g.principalType,
        id: g.principalId,
      });
  for (const g of change.deleteGrants ?? [])
    if (ownershipRoles.includes(g.role)) changed.set(principalKey(g.principal), g.principal);
  if (changed.size === 0) return change;
  const { envId, resourceId } = change.resource;
  return {
    ...change,
    outbox: [
      ...(change.outbox ?? []),
      ...outboxItems(deps, [{ type: "owners", envId, resourceId, principals: [...changed.values()] }]),
    ],
  };
}

/** What the relay knows right after a new resource's commit: its creator owns it, and nobody else holds a role. */
export function knownNew(resource: Resource): Known {
  return { resource, roles: new Map([[principalKey({ type: "user", id: resource.creatorId }), ["owner"]]]) };
}

/**
 * The transaction that brings a new resource into being: its meta row (which must not exist yet),
 * its creator's owner grant, the change entry, and the outbox items for the catalog, the creator's
 * index and the environment's log.
 */
export function newResourceChange(
  deps: Pick<Capabilities, "newId">,
  resource: Resource,
  grantedBy: string,
  entry: ChangeEntry,
): ResourceChange {
  const { envId, resourceId, creatorId } = resource;
  return {
    etag: "new",
    resource,
    putGrants: [
      { principalType: "user", principalId: creatorId, role: "owner", grantedBy, grantedAt: resource.createdAt },
    ],
    changes: [entry],
    outbox: outboxItems(deps, [
      { type: "catalog", envId, resourceId },
      { type: "index", envId, resourceId, principals: [{ type: "user", id: creatorId }] },
      { type: "log", envId, entries: [entry] },
    ]),
  };
}
