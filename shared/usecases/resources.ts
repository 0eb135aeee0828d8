import { decodePageToken, encodePageToken } from "../store/pageToken.js";
import { z } from "zod";
import { conflict, DomainError, forbidden, invalid, notFound, ruleViolation } from "../errors.js";
import { connectorKey } from "../model/dlp.js";
import { groupRef, type Connection, type Environment, type PrincipalRef, type Resource } from "../model/records.js";
import { classOf, dlpViolation } from "../rules/dlp.js";
import { isEnvironmentAdmin, type Decision } from "../rules/decide.js";
import type { ActionName, ResourceKind, Role } from "../rules/matrix.js";
import type { IndexEntry } from "../model/records.js";
import { requireAction, viewAsCaller, type CallerView } from "./access.js";
import {
  actsAsEnvironmentAdmin,
  hasActiveMembership,
  isEnabledEnvironmentAdmin,
  requireEnvironmentAdmin,
} from "./adminGate.js";
import { isAppAdmin, type Capabilities, type Caller } from "./capabilities.js";
import { requireOwnCredentials, withStoppedConnections } from "./connections.js";
import { changeEntry, changeResource, knownNew, newResourceChange, outboxItems } from "./mutate.js";

type Deps = Pick<Capabilities, "repo" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock">;

export interface ResourceInput {
  kind: ResourceKind;
  displayName: string;
  description?: string | undefined;
  creatorId: string;
  analyticsReady?: boolean | undefined;
  solutionAware?: boolean | undefined;
  triggerKind?: "instant" | "automated" | undefined;
  connections?: Connection[] | undefined;
}

/** A flow's connections, as `resourceSchema` stores them (one row property). */
const maxConnections = 100;

/** The verb that edits a resource's registration, per kind. */
const editAction: Record<ResourceKind, ActionName> = {
  processMining: "processMining.editDetails",
  taskMining: "taskMining.updateProperties",
  cloudFlow: "cloudFlow.editDefinition",
};

export interface ResourceView {
  resource: Partial<Resource> &
    Pick<Resource, "envId" | "resourceId" | "kind" | "displayName" | "ownerId" | "creatorId">;
  roles: Role[];
  allowedActions: ActionName[];
  via: Decision["via"];
  etag: string;
}

function validateKindFields(input: ResourceInput): void {
  const errors = [];
  if (input.kind !== "processMining" && input.analyticsReady !== undefined)
    errors.push({ field: "body.analyticsReady", message: "only for processMining" });
  if (input.kind !== "cloudFlow") {
    for (const f of ["solutionAware", "triggerKind", "connections"] as const) {
      if (input[f] !== undefined) errors.push({ field: `body.${f}`, message: "only for cloudFlow" });
    }
  }
  const ids = (input.connections ?? []).map((c) => c.id);
  if (new Set(ids).size !== ids.length)
    errors.push({ field: "body.connections", message: "connection ids must be unique" });
  if (errors.length > 0) throw invalid("the resource has fields its kind doesn't take", errors);
}

/**
 * `PUT .../resources/{id}`: an environment maker registers their own resource (themselves as
 * creator); environment admins and `Sharing.Admin` any. Updating needs the kind's edit action;
 * kind and creator never change.
 */
export async function putResource(
  deps: Deps,
  caller: Caller,
  envId: string,
  resourceId: string,
  input: ResourceInput,
  ifMatch: string | undefined,
): Promise<{ created: boolean; view: ResourceView }> {
  validateKindFields(input);
  const app = isAppAdmin(caller);
  const result = await changeResource(deps, async () => {
    const [env, callerCtx, current, creatorCtx] = await Promise.all([
      deps.repo.getEnvironment(envId),
      app ? Promise.resolve(undefined) : deps.repo.principalContext(envId, caller.principalId),
      deps.repo.rawResourceMeta(envId, resourceId),
      deps.repo.principalContext(envId, input.creatorId),
    ]);
    if (!env || (!app && !hasActiveMembership(callerCtx))) throw notFound(`environment ${envId} was not found`);
    const now = deps.clock().toISOString();
    if (current?.resource) {
      const view = await viewAsCaller(deps, caller, envId, resourceId);
      requireAction(view, editAction[current.resource.kind]);
      if (ifMatch && ifMatch !== "*" && ifMatch !== view.state.etag)
        throw conflict("the resource changed since it was read (If-Match)");
      if (input.kind !== current.resource.kind) throw conflict("a resource's kind can't change");
      if (input.creatorId !== current.resource.creatorId) throw conflict("a resource's creator can't change");
      if (!app) requireOwnCredentials(caller.principalId, current.resource.connections, input.connections);
      const connections = withStoppedConnections(current.resource.connections, input.connections);
      if (connections && connections.length > maxConnections)
        throw ruleViolation(
          `the flow would hold ${connections.length} connections, over ${maxConnections}: connections it stops using stay as "other" until an owner uses them again (seed 004), so list at most ${maxConnections} with those`,
        );
      const updated: Resource = {
        ...current.resource,
        ...stripUndefined({ ...input, connections }),
        updatedAt: now,
      };
      requireDlpCompliance(env, updated, input);
      const entry = changeEntry(deps, {
        actorId: caller.principalId,
        action: "resource.updated",
        resourceId,
        detail: `updated ${updated.kind} ${updated.displayName}`,
      });
      const renamed = updated.displayName !== current.resource.displayName;
      // The first 100 grantees' rows carry the new name when this answers; every other row (more
      // grantees, groups' members) follows through the fan-out queue.
      const grantees = renamed
        ? [
            ...new Map(
              (await deps.repo.grantRows(envId, resourceId)).map((g) => [
                `${g.principalType}|${g.principalId}`,
                { type: g.principalType, id: g.principalId },
              ]),
            ).values(),
          ].slice(0, 100)
        : [];
      return {
        change: {
          etag: view.state.etag,
          resource: updated,
          changes: [entry],
          outbox: outboxItems(deps, [
            { type: "catalog", envId, resourceId },
            ...(renamed
              ? [
                  { type: "index" as const, envId, resourceId, principals: grantees },
                  { type: "fanout" as const, messages: [{ type: "reindex" as const, envId, resourceId }] },
                ]
              : []),
            { type: "log", envId, entries: [entry] },
          ]),
        },
        result: { created: false },
      };
    }
    if (ifMatch && ifMatch !== "*") throw conflict("the resource doesn't exist (If-Match)");
    if (!actsAsEnvironmentAdmin(caller, callerCtx)) {
      if (input.creatorId !== caller.principalId)
        throw forbidden("an environment maker registers resources with themselves as creator");
      const roles = callerCtx?.membership?.securityRoles ?? [];
      if (!roles.includes("EnvironmentMaker"))
        throw forbidden(
          "registering a resource needs the EnvironmentMaker or SystemAdministrator role in this environment",
        );
    }
    if (!creatorCtx.user)
      throw invalid("the creator is not in the tenant directory", [
        { field: "body.creatorId", message: `unknown user ${input.creatorId}` },
      ]);
    if (!creatorCtx.membership)
      throw invalid("the creator is not a member of the environment", [
        { field: "body.creatorId", message: `user ${input.creatorId} is not in environment ${envId}` },
      ]);
    if (current?.tombstone)
      throw conflict("a resource with this id was deleted and is still being removed; try again shortly");
    const resource: Resource = {
      envId,
      resourceId,
      ...stripUndefined(input),
      ownerId: input.creatorId,
      createdAt: now,
      updatedAt: now,
    };
    requireDlpCompliance(env, resource, input);
    const entry = changeEntry(deps, {
      actorId: caller.principalId,
      action: "resource.registered",
      resourceId,
      principal: { type: "user", id: input.creatorId },
      role: "owner",
      detail: `registered ${resource.kind} ${resource.displayName}`,
    });
    return {
      change: newResourceChange(deps, resource, caller.principalId, entry),
      result: { created: true },
      known: knownNew(resource),
    };
  });
  return { created: result.created, view: await getResource(deps, caller, envId, resourceId) };
}

/**
 * A flow may not use a blocked connector nor mix business and non-business ones under its
 * environment's policy (shared/rules/dlp.ts): 422 naming the connectors, and the connections of the
 * request that use them. The flow as it would be stored is judged, so an update that keeps connections
 * a later policy forbids is refused too, as the product refuses to save such a flow.
 */
function requireDlpCompliance(env: Environment, resource: Resource, input: ResourceInput): void {
  if (resource.kind !== "cloudFlow" || !env.dlp) return;
  const violation = dlpViolation(env.dlp, resource.connections);
  if (!violation) return;
  const policy = env.dlp;
  const named = new Set([...violation.blocked, ...violation.business, ...violation.nonBusiness].map(connectorKey));
  const why = {
    blocked: "blocked by the policy",
    business: "a business connector",
    nonBusiness: "a non-business connector",
  };
  const errors = (input.connections ?? []).flatMap((c, i) =>
    c.usage === "embedded" && named.has(connectorKey(c.connector))
      ? [
          {
            field: `body.connections[${i}].connector`,
            message: `"${c.connector}" is ${why[classOf(policy, c.connector)]}`,
          },
        ]
      : [],
  );
  throw new DomainError("ruleViolation", violation.message, errors);
}

function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

/**
 * The resource as put and instantiate answer it: the registration for those who see its content,
 * else the summary (ids, kind, name, owner, creator).
 */
export async function getResource(
  deps: Deps,
  caller: Caller,
  envId: string,
  resourceId: string,
): Promise<ResourceView> {
  return fullOrSummary(await viewAsCaller(deps, caller, envId, resourceId));
}

/**
 * `GET .../resources/{id}`: as `getResource`, except that a flow's run-only user gets the run-only
 * view: name, trigger and the connections they must supply (seed 004: they "cannot view the flow").
 */
export async function readResource(
  deps: Deps,
  caller: Caller,
  envId: string,
  resourceId: string,
): Promise<ResourceView | RunOnlyView> {
  const view = await viewAsCaller(deps, caller, envId, resourceId);
  return isRunOnlyCaller(view.decision, view.state.resource.kind)
    ? runOnlyView(view, caller.principalId)
    : fullOrSummary(view);
}

export interface RunOnlyView {
  view: "runOnly";
  resource: {
    envId: string;
    resourceId: string;
    kind: "cloudFlow";
    displayName: string;
    triggerKind?: "instant" | "automated" | undefined;
    connectionsToProvide: { id: string; connector: string }[];
  };
  roles: Role[];
  allowedActions: ActionName[];
  via: Decision["via"];
  etag: string;
}

/**
 * A flow's run-only user, holding nothing that shows more: not an owner (an owner without a
 * security role still is one), and no right to see who it's shared with (admins, a custom role's
 * share privilege).
 */
export function isRunOnlyCaller(decision: Decision, kind: ResourceKind): boolean {
  return (
    kind === "cloudFlow" &&
    decision.roles.includes("runOnly") &&
    !decision.roles.includes("owner") &&
    !decision.actions.includes("cloudFlow.viewSharing")
  );
}

function runOnlyView(view: CallerView, callerId: string): RunOnlyView {
  const r = view.state.resource;
  // The caller's run-only grants: direct, and those of the groups the decision went through.
  const through = new Set(
    view.decision.via.flatMap((v) =>
      v.role !== "runOnly"
        ? []
        : v.through === "direct"
          ? [`user|${callerId}`]
          : typeof v.through === "object"
            ? [`${v.through.type}|${v.through.id}`]
            : [],
    ),
  );
  const grants = view.state.grants.filter(
    (g) => g.role === "runOnly" && through.has(`${g.principalType}|${g.principalId}`),
  );
  // A connection is theirs to supply when every run-only grant they hold says "invoker": one grant
  // that embeds it lets them run with the flow's own. Connections the flow no longer uses need none.
  const connectionsToProvide = (r.connections ?? [])
    .filter((c) => c.usage === "embedded")
    .filter((c) => grants.length > 0 && grants.every((g) => g.connectionChoices?.[c.id] === "invoker"))
    .map((c) => ({ id: c.id, connector: c.connector }));
  return {
    view: "runOnly",
    resource: {
      envId: r.envId,
      resourceId: r.resourceId,
      kind: "cloudFlow",
      displayName: r.displayName,
      ...(r.triggerKind !== undefined ? { triggerKind: r.triggerKind } : {}),
      connectionsToProvide,
    },
    roles: view.decision.roles,
    allowedActions: view.decision.actions,
    via: view.decision.via,
    etag: view.state.etag,
  };
}

function fullOrSummary(view: CallerView): ResourceView {
  const r = view.state.resource;
  const seesContent =
    view.decision.actions.includes(`${r.kind}.viewDetails` as ActionName) ||
    view.decision.actions.includes(`${r.kind}.editDefinition` as ActionName) ||
    (view.decision.actions.includes(`${r.kind}.run` as ActionName) && !isRunOnlyCaller(view.decision, r.kind));
  const summary = {
    envId: r.envId,
    resourceId: r.resourceId,
    kind: r.kind,
    displayName: r.displayName,
    ownerId: r.ownerId,
    creatorId: r.creatorId,
  };
  return {
    resource: seesContent ? r : summary,
    roles: view.decision.roles,
    allowedActions: view.decision.actions,
    via: view.decision.via,
    etag: view.state.etag,
  };
}

/** `DELETE .../resources/{id}`: marks it deleted in one transaction; the relay removes its rows and index entries. */
export async function deleteResource(deps: Deps, caller: Caller, envId: string, resourceId: string): Promise<void> {
  await changeResource(deps, async () => {
    const [view, grants] = await Promise.all([
      viewAsCaller(deps, caller, envId, resourceId),
      deps.repo.grantRows(envId, resourceId),
    ]);
    const r = view.state.resource;
    requireAction(view, `${r.kind}.delete` as ActionName);
    // The first 100 users' listings drop it at once; the purge removes every other row, off the request path.
    const users = [...new Set(grants.filter((g) => g.principalType === "user").map((g) => g.principalId))].slice(
      0,
      100,
    );
    const entry = changeEntry(deps, {
      actorId: caller.principalId,
      action: "resource.deleted",
      resourceId,
      detail: `deleted ${r.kind} ${r.displayName}`,
    });
    return {
      change: {
        etag: view.state.etag,
        resource: { ...r, updatedAt: deps.clock().toISOString() },
        tombstone: true,
        changes: [entry],
        outbox: outboxItems(deps, [
          { type: "catalog", envId, resourceId },
          { type: "index", envId, resourceId, principals: users.map((id) => ({ type: "user" as const, id })) },
          { type: "fanout", messages: [{ type: "purge", envId, resourceId }] },
          { type: "log", envId, entries: [entry] },
        ]),
      },
      result: undefined,
    };
  });
}

export interface ListedResource {
  resourceId: string;
  kind: ResourceKind;
  displayName: string;
  roles: Role[];
  via: { role: Role | "admin"; through: IndexEntry["through"] | "admin" }[];
}

/**
 * `GET .../principals/{id}/resources`: the resources a user holds a role on, directly or through a
 * group or list: one partition query of their index (plus pages). For an environment admin, every
 * resource of the environment, since admins can act on all of them.
 */
export async function principalResources(
  deps: Deps,
  caller: Caller,
  envId: string,
  principalId: string,
  kind: ResourceKind | undefined,
  continuation: string | undefined,
): Promise<{ resources: ListedResource[]; continuationToken?: string | undefined }> {
  const self = caller.principalId === principalId;
  const app = isAppAdmin(caller);
  const token = decodeListToken(continuation);
  const indexFrom = token?.table === "index" ? token.continuation : undefined;
  const [page, laterPageMembership, callerCtx] = await Promise.all([
    deps.repo.principalIndexPage(envId, { type: "user", id: principalId }, indexFrom),
    // The membership row sorts before the index, so only the first page holds it.
    indexFrom ? deps.repo.getMembership(envId, principalId) : Promise.resolve(undefined),
    self || app ? Promise.resolve(undefined) : deps.repo.principalContext(envId, caller.principalId),
  ]);
  const membership = page.membership ?? laterPageMembership;
  // A suspended member lists nothing there, as they can do nothing there.
  if (self && (!membership || membership.suspended === true)) throw notFound(`environment ${envId} was not found`);
  if (!self && !app) {
    if (!hasActiveMembership(callerCtx)) throw notFound(`environment ${envId} was not found`);
    if (!isEnabledEnvironmentAdmin(callerCtx))
      throw forbidden("only environment admins may list another principal's resources");
  }
  if (!self && !membership) throw notFound(`principal ${principalId} is not a member of environment ${envId}`);
  const grouped = new Map<string, ListedResource>();
  const add = (e: IndexEntry) => {
    let item = grouped.get(e.resourceId);
    if (!item) {
      item = { resourceId: e.resourceId, kind: e.kind, displayName: e.displayName, roles: [], via: [] };
      grouped.set(e.resourceId, item);
    }
    for (const role of e.roles) {
      if (!item.roles.includes(role)) item.roles.push(role);
      item.via.push({ role, through: e.through });
    }
  };
  const listed = () => [...grouped.values()].filter((r) => !kind || r.kind === kind);
  if (membership && membership.suspended !== true && isEnvironmentAdmin({ securityRoles: membership.securityRoles })) {
    // Admins: the environment's catalog, page by page, with the roles they also hold.
    const [catalog, held] = await Promise.all([
      deps.repo.catalogPage(envId, token?.table === "catalog" ? token.continuation : undefined),
      indexFrom
        ? deps.repo
            .principalIndexPage(envId, { type: "user", id: principalId }, undefined)
            .then((first) => allIndexEntries(deps, envId, principalId, first))
        : allIndexEntries(deps, envId, principalId, page),
    ]);
    for (const r of catalog.resources) {
      grouped.set(r.resourceId, {
        resourceId: r.resourceId,
        kind: r.kind,
        displayName: r.displayName,
        roles: [],
        via: [{ role: "admin", through: "admin" }],
      });
    }
    for (const e of held) if (grouped.has(e.resourceId)) add(e);
    return { resources: listed(), continuationToken: encodeListToken("catalog", catalog.continuation) };
  }
  for (const e of page.entries) add(e);
  return { resources: listed(), continuationToken: encodeListToken("index", page.continuation) };
}

/**
 * `GET .../principals/{id}/resources?principalType=group|sharePointList`: what a group or list holds,
 * from its own index (environment admins and app admins).
 */
export async function groupResources(
  deps: Deps,
  caller: Caller,
  envId: string,
  group: PrincipalRef,
  kind: ResourceKind | undefined,
  continuation: string | undefined,
): Promise<{ resources: ListedResource[]; continuationToken?: string | undefined }> {
  const token = decodeListToken(continuation);
  const [, found, page] = await Promise.all([
    requireEnvironmentAdmin(deps, caller, envId, {
      refusal: "only environment admins may list what a group or list holds",
    }),
    deps.repo.getGroup(envId, group.id),
    deps.repo.principalIndexPage(envId, group, token?.table === "index" ? token.continuation : undefined),
  ]);
  if (!found || groupRef(found.group).type !== group.type)
    throw notFound(`${group.type} ${group.id} was not found in environment ${envId}`);
  const resources = page.entries
    .filter((e) => !kind || e.kind === kind)
    .map((e): ListedResource => ({
      resourceId: e.resourceId,
      kind: e.kind,
      displayName: e.displayName,
      roles: [...e.roles],
      via: e.roles.map((role) => ({ role, through: e.through })),
    }));
  return { resources, continuationToken: encodeListToken("index", page.continuation) };
}

/** Listing tokens say which table they page: a user's index, or (for admins) the environment's catalog. */
function encodeListToken(table: "index" | "catalog", continuation: string | undefined): string | undefined {
  return continuation ? encodePageToken({ t: table, c: continuation }) : undefined;
}

const listTokenSchema = z.object({ t: z.enum(["index", "catalog"]), c: z.string().min(1).max(4000) });

function decodeListToken(token: string | undefined): { table: "index" | "catalog"; continuation: string } | undefined {
  if (token === undefined) return undefined;
  const t = decodePageToken(listTokenSchema, token);
  return { table: t.t, continuation: t.c };
}

async function allIndexEntries(
  deps: Deps,
  envId: string,
  principalId: string,
  first: { entries: IndexEntry[]; continuation?: string | undefined },
): Promise<IndexEntry[]> {
  const out = [...first.entries];
  let continuation = first.continuation;
  while (continuation) {
    const page = await deps.repo.principalIndexPage(envId, { type: "user", id: principalId }, continuation);
    out.push(...page.entries);
    continuation = page.continuation;
  }
  return out;
}

/** `PUT .../recordings/{id}`: adds a recording, or relabels one (own or others', by the rules). */
export async function putRecording(
  deps: Deps,
  caller: Caller,
  envId: string,
  resourceId: string,
  recordingId: string,
  label: string | undefined,
) {
  return changeResource(deps, async () => {
    const view = await viewAsCaller(deps, caller, envId, resourceId);
    if (view.state.resource.kind !== "taskMining")
      throw notFound(`resource ${resourceId} has no recordings (it is a ${view.state.resource.kind})`);
    const full = await deps.repo.fullResourceState(envId, resourceId);
    const existing = full?.recordings.find((r) => r.recordingId === recordingId);
    const now = deps.clock().toISOString();
    if (existing) {
      requireAction(
        view,
        existing.addedBy === caller.principalId ? "taskMining.labelOwnRecording" : "taskMining.labelOthersRecording",
      );
    } else {
      requireAction(view, "taskMining.addRecording");
    }
    const recording = existing
      ? { ...existing, ...(label !== undefined ? { label } : {}) }
      : { recordingId, addedBy: caller.principalId, addedAt: now, ...(label !== undefined ? { label } : {}) };
    return {
      change: { etag: view.state.etag, resource: view.state.resource, putRecordings: [recording] },
      result: { created: !existing, recording },
    };
  });
}

/** `DELETE .../recordings/{id}`: own recordings by anyone who may add them; others' by owners and co-owners. */
export async function deleteRecording(
  deps: Deps,
  caller: Caller,
  envId: string,
  resourceId: string,
  recordingId: string,
): Promise<void> {
  await changeResource(deps, async () => {
    const view = await viewAsCaller(deps, caller, envId, resourceId);
    if (view.state.resource.kind !== "taskMining")
      throw notFound(`resource ${resourceId} has no recordings (it is a ${view.state.resource.kind})`);
    const full = await deps.repo.fullResourceState(envId, resourceId);
    const existing = full?.recordings.find((r) => r.recordingId === recordingId);
    if (!existing) throw notFound(`recording ${recordingId} was not found`);
    requireAction(
      view,
      existing.addedBy === caller.principalId ? "taskMining.deleteOwnRecording" : "taskMining.deleteOthersRecording",
    );
    return {
      change: { etag: view.state.etag, resource: view.state.resource, deleteRecordings: [recordingId] },
      result: undefined,
    };
  });
}
