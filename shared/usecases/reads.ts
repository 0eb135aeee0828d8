import { z } from "zod";
import { forbidden, invalid, notFound } from "../errors.js";
import type { Environment, Group, Membership, OwnerRow, TenantUser } from "../model/records.js";
import type { ResourceKind } from "../rules/matrix.js";
import { ownershipRoles } from "../rules/matrix.js";
import { decodePageToken, encodePageToken } from "../store/pageToken.js";
import { requireEnvironmentAdmin } from "./adminGate.js";
import { isAppAdmin, isAppAuditor, isAppProvisioner, type Capabilities, type Caller } from "./capabilities.js";
import { directoryGate } from "./directory.js";

/**
 * The reads of what the directory routes write (contract v2, "Reading what was written"). Every list
 * is a page of at most `top` (default and most 100) items from one storage query, or a few for a
 * filtered list, with the storage's continuation wrapped in this API's token.
 */
type Deps = Pick<Capabilities, "repo">;

export interface PageQuery {
  continuationToken?: string | undefined;
  top?: number | undefined;
}

export interface Page<T> {
  items: T[];
  continuationToken?: string | undefined;
}

export const maxPageItems = 100;

/** `s` names the listing a token pages, so a token of one listing can't be replayed against another's rows. */
const tokenSchema = z.object({ s: z.string().min(1).max(20), c: z.string().min(1).max(4000) });

export function continuationOf(q: PageQuery, listing: string): string | undefined {
  if (q.continuationToken === undefined) return undefined;
  const t = decodePageToken(tokenSchema, q.continuationToken);
  if (t.s !== listing)
    throw invalid("this continuation token belongs to another listing", [
      { field: "query.continuationToken", message: `not a token of this listing (${listing})` },
    ]);
  return t.c;
}

export function page<T>(items: T[], listing: string, continuation: string | undefined): Page<T> {
  return { items, ...(continuation ? { continuationToken: encodePageToken({ s: listing, c: continuation }) } : {}) };
}

export const topOf = (q: PageQuery) => Math.min(q.top ?? maxPageItems, maxPageItems);

/**
 * `GET /api/environments`: every environment for `Sharing.Admin` apps; for a user, those they are a
 * member of (one range of their `envs|` rows, then the environments by id: two round trips a page).
 */
export async function listEnvironments(deps: Deps, caller: Caller, q: PageQuery): Promise<Page<Environment>> {
  const top = topOf(q);
  if (isAppAdmin(caller)) {
    const p = await deps.repo.environmentsPage(continuationOf(q, "envs"), top);
    return page(p.environments, "envs", p.continuation);
  }
  if (caller.appRoles.length > 0)
    throw forbidden("listing environments needs the Sharing.Admin app role, or a user's token (their environments)");
  const p = await deps.repo.membershipsOfUserPage(caller.principalId, continuationOf(q, "mine"), top);
  const environments = await deps.repo.environmentsByIds(p.memberships.map((m) => m.envId));
  return page(environments, "mine", p.continuation);
}

/** `GET /api/environments/{envId}`: `Sharing.Admin` apps, or a member (404 for anyone else: environment isolation). */
export async function getEnvironment(deps: Deps, caller: Caller, envId: string): Promise<Environment> {
  const app = isAppAdmin(caller);
  if (!app && caller.appRoles.length > 0)
    throw forbidden("reading an environment needs the Sharing.Admin app role, or membership of it");
  const [environment, membership] = await Promise.all([
    deps.repo.getEnvironment(envId),
    app ? Promise.resolve(undefined) : deps.repo.getMembership(envId, caller.principalId),
  ]);
  if (!environment || (!app && !membership)) throw notFound(`environment ${envId} was not found`);
  return environment;
}

/**
 * `GET /api/users/{userId}`: `Sharing.Admin` and `Sharing.Provisioning` apps, or the user themselves.
 * Anyone else is refused before the directory is read, so a 403 says nothing of whether the user exists.
 */
export async function getTenantUser(deps: Deps, caller: Caller, userId: string): Promise<TenantUser> {
  if (!isAppAdmin(caller) && !isAppProvisioner(caller) && caller.principalId !== userId)
    throw forbidden("a tenant user is read by themselves, or by an app with Sharing.Admin or Sharing.Provisioning");
  const user = await deps.repo.getUser(userId);
  if (!user) throw notFound(`user ${userId} is not in the tenant directory`);
  return user;
}

/** `GET .../users`: the environment's memberships in user id order, guarded like `PUT .../users/{userId}`. */
export async function listMemberships(
  deps: Deps,
  caller: Caller,
  envId: string,
  q: PageQuery,
): Promise<Page<Membership>> {
  await requireEnvironmentAdmin(deps, caller, envId, directoryGate);
  const p = await deps.repo.environmentMembersPage(envId, continuationOf(q, "members"), topOf(q));
  return page(p.memberships, "members", p.continuation);
}

/** `GET .../groups`: the environment's groups and lists in id order, guarded like `PUT .../groups/{groupId}`. */
export async function listGroups(
  deps: Deps,
  caller: Caller,
  envId: string,
  q: PageQuery,
): Promise<Page<Omit<Group, "buckets">>> {
  await requireEnvironmentAdmin(deps, caller, envId, directoryGate);
  const p = await deps.repo.groupsPage(envId, continuationOf(q, "groups"), topOf(q));
  return page(
    p.groups.map(({ buckets: _internal, ...g }) => g),
    "groups",
    p.continuation,
  );
}

export interface ResourcesQuery extends PageQuery {
  kind?: ResourceKind | undefined;
  ownerId?: string | undefined;
}

export interface ResourceWithOwners {
  resourceId: string;
  kind: ResourceKind;
  displayName: string;
  creatorId: string;
  /** The primary owner. */
  ownerId: string;
  /** Every ownership grant (owner, co-owner; for flows, users, groups and lists that own it). */
  owners: { type: OwnerRow["principalType"]; id: string; role: OwnerRow["role"] }[];
}

/** Storage reads one page may spend looking for matches of a filter before it answers with what it has. */
const maxReadsPerPage = 5;

/**
 * `GET .../resources?kind=&ownerId=`: the environment's resources with their owners, for environment
 * admins and `Sharing.Admin` or `Sharing.Audit` apps. Unfiltered or by kind it pages the catalog
 * (`resource|` rows); by owner it pages that user's index (their direct owner and co-owner rows).
 * A filtered page may come back short, even empty, with a token: at most 5 storage reads look for
 * matches, then the owners of the page's resources are read together (one query each): a page costs
 * at most 7 round trips, whatever the environment holds.
 */
export async function listResources(
  deps: Deps,
  caller: Caller,
  envId: string,
  q: ResourcesQuery,
): Promise<Page<ResourceWithOwners>> {
  await requireEnvironmentAdmin(deps, caller, envId, {
    refusal:
      "listing an environment's resources needs its SystemAdministrator role (as an enabled user) or the Sharing.Admin or Sharing.Audit app role",
    alsoApps: isAppAuditor,
  });
  const top = topOf(q);
  const listing = q.ownerId === undefined ? "catalog" : "owned";
  let continuation = continuationOf(q, listing);
  const found: { resourceId: string; resource?: ResourceWithOwners | undefined }[] = [];
  let reads = 0;
  do {
    const room = top - found.length;
    if (q.ownerId === undefined) {
      const p = await deps.repo.catalogPage(envId, continuation, room);
      for (const r of p.resources)
        if (q.kind === undefined || r.kind === q.kind) found.push({ resourceId: r.resourceId, resource: toItem(r) });
      continuation = p.continuation;
    } else {
      const p = await deps.repo.indexEntriesPage(envId, { type: "user", id: q.ownerId }, continuation, room);
      for (const e of p.entries)
        if (
          e.through === "direct" &&
          e.roles.some((r) => ownershipRoles.includes(r)) &&
          (q.kind === undefined || e.kind === q.kind)
        )
          found.push({ resourceId: e.resourceId });
      continuation = p.continuation;
    }
    reads++;
  } while (continuation && found.length < top && reads < maxReadsPerPage);

  const ids = found.map((f) => f.resourceId);
  const [owners, catalog] = await Promise.all([
    deps.repo.ownersOf(envId, ids),
    q.ownerId === undefined ? Promise.resolve([]) : deps.repo.catalogByIds(envId, ids),
  ]);
  const byId = new Map(catalog.map((r) => [r.resourceId, toItem(r)]));
  const items = found.flatMap((f) => {
    const item = f.resource ?? byId.get(f.resourceId);
    return item ? [{ ...item, owners: (owners.get(f.resourceId) ?? []).map(ownerOf) }] : [];
  });
  return page(items, listing, continuation);
}

function toItem(r: {
  resourceId: string;
  kind: ResourceKind;
  displayName: string;
  creatorId: string;
  ownerId: string;
}) {
  return {
    resourceId: r.resourceId,
    kind: r.kind,
    displayName: r.displayName,
    creatorId: r.creatorId,
    ownerId: r.ownerId,
    owners: [],
  };
}

const ownerOf = (o: OwnerRow) => ({ type: o.principalType, id: o.principalId, role: o.role });
