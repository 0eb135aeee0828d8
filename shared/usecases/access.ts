import { forbidden, invalid, notFound } from "../errors.js";
import { groupRef, type Grant, type Group, type PrincipalRef } from "../model/records.js";
import { decide, explainRefusal, limitationText, type Decision, type PrincipalFacts } from "../rules/decide.js";
import { parseActionName, type ActionName, type ResourceKind } from "../rules/matrix.js";
import type { PrincipalContext, ResourceState } from "../store/repository.js";
import { hasActiveMembership, isEnabledEnvironmentAdmin } from "./adminGate.js";
import { isAppAdmin, isAppAuditor, isAppChecker, type Capabilities, type Caller } from "./capabilities.js";

type Deps = Pick<Capabilities, "repo">;

/** Facts for decisions from a user's context; an unknown user is treated as disabled and not a member. */
export function factsOf(principalId: string, ctx: PrincipalContext): PrincipalFacts {
  return {
    principalId,
    enabled: ctx.user?.enabled ?? false,
    suspended: ctx.membership?.suspended === true,
    securityRoles: ctx.membership?.securityRoles,
    memberOf: ctx.memberOf,
    privileges: ctx.privileges,
  };
}

/**
 * What `Sharing.Admin` apps may do beyond the rules' admin column: the contract lets them manage any
 * resource ("Calling it"), so they update and delete every kind, where an environment's
 * SystemAdministrator user keeps the narrower column of sharing-rules.md (task mining and flows).
 */
const appAdminManages: Record<ResourceKind, ActionName[]> = {
  processMining: ["processMining.editDetails", "processMining.delete"],
  taskMining: ["taskMining.updateProperties", "taskMining.delete"],
  cloudFlow: ["cloudFlow.editDefinition", "cloudFlow.delete"],
};

/** App admins act as the environment's SystemAdministrator on every resource, and manage it. */
const appAdminFacts = (principalId: string): PrincipalFacts => ({
  principalId,
  enabled: true,
  securityRoles: ["SystemAdministrator"],
  memberOf: [],
});

export interface CallerView {
  state: ResourceState;
  decision: Decision;
  /** The caller's own context; undefined for app callers. */
  ctx: PrincipalContext | undefined;
}

/**
 * Reads a resource and the caller's context together (one round trip) and decides what the caller
 * may do. The state holds the grants of the caller, of `also`, and of every group and list, not
 * every grant: what the decision needs, whatever the resource holds. Environment isolation: a caller
 * who is not a member gets 404, as for an unknown resource; so does a member who can't see the
 * resource at all.
 */
export async function viewAsCaller(
  deps: Deps,
  caller: Caller,
  envId: string,
  resourceId: string,
  also: readonly PrincipalRef[] = [],
): Promise<CallerView> {
  const app = isAppAdmin(caller);
  const [state, ctx] = await Promise.all([
    deps.repo.resourceStateFor(envId, resourceId, [{ type: "user", id: caller.principalId }, ...also]),
    app ? Promise.resolve(undefined) : deps.repo.principalContext(envId, caller.principalId),
  ]);
  if (!app && !hasActiveMembership(ctx)) throw notFound(`environment ${envId} was not found`);
  if (!state) {
    if (app && !(await deps.repo.getEnvironment(envId))) throw notFound(`environment ${envId} was not found`);
    throw notFound(`resource ${resourceId} was not found in environment ${envId}`);
  }
  const decided = decide(
    state.resource,
    state.grants,
    app ? appAdminFacts(caller.principalId) : factsOf(caller.principalId, ctx!),
  );
  const decision = app
    ? { ...decided, actions: [...new Set([...decided.actions, ...appAdminManages[state.resource.kind]])] }
    : decided;
  if (decision.via.length === 0) throw notFound(`resource ${resourceId} was not found in environment ${envId}`);
  return { state, decision, ctx };
}

/** Throws 403 with the reason unless the decision allows the action. */
export function requireAction(view: CallerView, action: ActionName): void {
  if (!view.decision.actions.includes(action)) {
    throw forbidden(`${action} is not allowed: ${explainRefusal(action, view.decision, view.state.resource.kind)}`);
  }
}

/** Membership of the caller in the environment (404 otherwise); app callers with any Sharing role pass. */
export async function requireEnvironmentPart(
  deps: Deps,
  caller: Caller,
  envId: string,
): Promise<PrincipalContext | undefined> {
  if (isAppAdmin(caller) || isAppAuditor(caller) || isAppChecker(caller)) {
    if (!(await deps.repo.getEnvironment(envId))) throw notFound(`environment ${envId} was not found`);
    return undefined;
  }
  const ctx = await deps.repo.principalContext(envId, caller.principalId);
  // A suspended member has no part in the environment until provisioning restores them.
  if (!hasActiveMembership(ctx)) throw notFound(`environment ${envId} was not found`);
  return ctx;
}

/** Decides for a principal given by id: a user, or else a group or list of the environment. */
function decideForPrincipal(
  state: ResourceState,
  principalId: string,
  userCtx: PrincipalContext,
  group: Group | undefined,
): Decision | undefined {
  if (userCtx.user) return decide(state.resource, state.grants, factsOf(principalId, userCtx));
  if (!group) return undefined;
  return decideForGroup(state, groupRef(group));
}

/** What a group or list may do by its own grants (its members may do more by theirs). */
function decideForGroup(state: ResourceState, ref: PrincipalRef): Decision {
  const own: Grant[] = state.grants.filter((g) => g.principalType === ref.type && g.principalId === ref.id);
  return decide(state.resource, own, {
    principalId: ref.id,
    enabled: true,
    securityRoles: ["BasicUser"],
    memberOf: [ref],
  });
}

export interface EffectiveAccess {
  principalId: string;
  roles: Decision["roles"];
  actions: ActionName[];
  via: Decision["via"];
  limitation?: string | undefined;
  connectionChoices?: Record<string, "embedded" | "invoker"> | undefined;
}

/**
 * `GET .../access/{principalId}`. A principal may ask about themselves (two requests); whoever may
 * share the resource, environment admins and app callers with a Sharing role may ask about anyone.
 */
export async function effectiveAccess(
  deps: Deps,
  caller: Caller,
  envId: string,
  resourceId: string,
  principalId: string,
): Promise<EffectiveAccess> {
  const self = caller.principalId === principalId;
  const app = isAppAdmin(caller) || isAppAuditor(caller) || isAppChecker(caller);
  // One round trip: the resource (the two principals' grants and every group's), both contexts, and
  // the group of that id in case the principal is a group or list.
  const [state, principalCtx, callerCtx, group] = await Promise.all([
    deps.repo.resourceStateFor(envId, resourceId, [
      { type: "user", id: principalId },
      { type: "user", id: caller.principalId },
    ]),
    deps.repo.principalContext(envId, principalId),
    self || app ? Promise.resolve(undefined) : deps.repo.principalContext(envId, caller.principalId),
    deps.repo.getGroup(envId, principalId),
  ]);
  const askerCtx = self ? principalCtx : callerCtx;
  if (!app && !hasActiveMembership(askerCtx)) throw notFound(`environment ${envId} was not found`);
  if (!state) {
    if (app && !(await deps.repo.getEnvironment(envId))) throw notFound(`environment ${envId} was not found`);
    throw notFound(`resource ${resourceId} was not found in environment ${envId}`);
  }
  if (!self && !app) {
    const asker = decide(state.resource, state.grants, factsOf(caller.principalId, askerCtx!));
    if (asker.via.length === 0) throw notFound(`resource ${resourceId} was not found in environment ${envId}`);
    const mayShare =
      isEnabledEnvironmentAdmin(askerCtx) ||
      asker.actions.some((a) => /\.(share|manageOwners|manageRunOnlyUsers)$/.test(a));
    if (!mayShare)
      throw forbidden(
        "only the principal, people who may share this resource, environment admins and Sharing apps may see another principal's access",
      );
  }
  const d = decideForPrincipal(state, principalId, principalCtx, group?.group);
  if (!d) throw notFound(`principal ${principalId} was not found`);
  const runOnly = state.grants.find(
    (g) =>
      g.role === "runOnly" &&
      d.via.some(
        (v) =>
          v.role === "runOnly" &&
          (v.through === "direct"
            ? g.principalId === principalId
            : v.through !== "admin" && g.principalId === v.through.id),
      ),
  );
  return {
    principalId,
    roles: d.roles,
    actions: d.actions,
    via: d.via,
    ...(d.limitation ? { limitation: limitationText(d.limitation) } : {}),
    ...(runOnly?.connectionChoices ? { connectionChoices: runOnly.connectionChoices } : {}),
  };
}

export interface CheckItem {
  principalId: string;
  /** A user (the default), or a group or list of the environment (contract v2). */
  principalType?: PrincipalRef["type"] | undefined;
  resourceId: string;
  action: string;
}

/**
 * `POST .../check`: up to 100 questions, answered in order. Each distinct resource and principal is
 * read once, all reads sent together: one round trip, and for each resource only its meta row, the
 * asked users' grants and the groups' and lists' grants, whatever else it holds.
 */
export async function check(
  deps: Deps,
  caller: Caller,
  envId: string,
  items: readonly CheckItem[],
): Promise<{ allowed: boolean; reason: string }[]> {
  const badActions = items.flatMap((it, i) =>
    parseActionName(it.action) ? [] : [{ field: `body.checks[${i}].action`, message: `unknown action '${it.action}'` }],
  );
  if (badActions.length > 0) throw invalid("some checks name unknown actions", badActions);
  const app = isAppAdmin(caller) || isAppAuditor(caller) || isAppChecker(caller);
  const resourceIds = [...new Set(items.map((i) => i.resourceId))];
  const userItems = items.filter((i) => (i.principalType ?? "user") === "user");
  const principalIds = [...new Set([...userItems.map((i) => i.principalId), ...(app ? [] : [caller.principalId])])];
  const groupIds = [...new Set(items.filter((i) => (i.principalType ?? "user") !== "user").map((i) => i.principalId))];
  const usersOn = new Map<string, PrincipalRef[]>();
  for (const i of items) {
    const list = usersOn.get(i.resourceId) ?? (app ? [] : [{ type: "user" as const, id: caller.principalId }]);
    if ((i.principalType ?? "user") === "user") list.push({ type: "user", id: i.principalId });
    usersOn.set(i.resourceId, list);
  }
  const [states, contexts, groups] = await Promise.all([
    Promise.all(resourceIds.map((r) => deps.repo.resourceStateFor(envId, r, usersOn.get(r) ?? []))),
    Promise.all(principalIds.map((p) => deps.repo.principalContext(envId, p))),
    Promise.all(groupIds.map((g) => deps.repo.getGroup(envId, g))),
  ]);
  const stateOf = new Map(resourceIds.map((r, i) => [r, states[i]]));
  const ctxOf = new Map(principalIds.map((p, i) => [p, contexts[i]!]));
  const groupOf = new Map(groupIds.map((g, i) => [g, groups[i]?.group]));
  if (!app && !hasActiveMembership(ctxOf.get(caller.principalId))) throw notFound(`environment ${envId} was not found`);
  if (app && states.every((s) => s === undefined) && !(await deps.repo.getEnvironment(envId)))
    throw notFound(`environment ${envId} was not found`);
  const results: { allowed: boolean; reason: string }[] = [];
  for (const item of items) {
    const action = item.action as ActionName;
    const { kind } = parseActionName(action)!;
    const state = stateOf.get(item.resourceId);
    if (!state) {
      results.push({ allowed: false, reason: `resource ${item.resourceId} was not found` });
      continue;
    }
    if (!app && item.principalId !== caller.principalId) {
      const asker = decide(state.resource, state.grants, factsOf(caller.principalId, ctxOf.get(caller.principalId)!));
      const mayAsk =
        isEnabledEnvironmentAdmin(ctxOf.get(caller.principalId)) ||
        asker.actions.some((a) => /\.(share|manageOwners|manageRunOnlyUsers)$/.test(a));
      if (!mayAsk) {
        results.push({ allowed: false, reason: "the caller may not ask about other principals on this resource" });
        continue;
      }
    }
    if (kind !== state.resource.kind) {
      results.push({
        allowed: false,
        reason: `${action} is an action of ${kind} resources, and ${item.resourceId} is a ${state.resource.kind}`,
      });
      continue;
    }
    let d: Decision;
    if ((item.principalType ?? "user") !== "user") {
      const group = groupOf.get(item.principalId);
      if (!group || groupRef(group).type !== item.principalType) {
        results.push({
          allowed: false,
          reason: `${item.principalType} ${item.principalId} is not in environment ${envId}`,
        });
        continue;
      }
      d = decideForGroup(state, groupRef(group));
    } else {
      const ctx = ctxOf.get(item.principalId)!;
      if (!ctx.user) {
        results.push({ allowed: false, reason: `principal ${item.principalId} is not a known user` });
        continue;
      }
      d = decide(state.resource, state.grants, factsOf(item.principalId, ctx));
    }
    const allowed = d.actions.includes(action);
    results.push({
      allowed,
      reason: allowed ? `allowed through ${describeVia(d)}` : explainRefusal(action, d, state.resource.kind),
    });
  }
  return results;
}

function describeVia(d: Decision): string {
  return d.via
    .map((v) =>
      v.through === "admin"
        ? "environment admin"
        : v.through === "direct"
          ? `${v.role} (direct)`
          : `${v.role} via ${v.through.type} ${v.through.id}`,
    )
    .join(", ");
}
