import { forbidden, invalid, notFound } from "../errors.js";
import type { Grant, PrincipalRef } from "../model/records.js";
import { decide, explainRefusal, limitationText, type Decision, type PrincipalFacts } from "../rules/decide.js";
import { parseActionName, type ActionName } from "../rules/matrix.js";
import type { PrincipalContext, ResourceState } from "../store/repository.js";
import { isEnabledEnvironmentAdmin } from "./adminGate.js";
import { isAppAdmin, isAppAuditor, isAppChecker, type Capabilities, type Caller } from "./capabilities.js";

type Deps = Pick<Capabilities, "repo">;

/** Facts for decisions from a user's context; an unknown user is treated as disabled and not a member. */
export function factsOf(principalId: string, ctx: PrincipalContext): PrincipalFacts {
  return {
    principalId,
    enabled: ctx.user?.enabled ?? false,
    securityRoles: ctx.membership?.securityRoles,
    memberOf: ctx.memberOf,
  };
}

/** App admins act as the environment's SystemAdministrator on every resource. */
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
 * Reads a resource and the caller's context together (two requests, one round trip) and decides
 * what the caller may do. Environment isolation: a caller who is not a member gets 404, as for an
 * unknown resource; so does a member who can't see the resource at all.
 */
export async function viewAsCaller(deps: Deps, caller: Caller, envId: string, resourceId: string): Promise<CallerView> {
  const app = isAppAdmin(caller);
  const [state, ctx] = await Promise.all([
    deps.repo.resourceState(envId, resourceId),
    app ? Promise.resolve(undefined) : deps.repo.principalContext(envId, caller.principalId),
  ]);
  if (!app && !ctx?.membership) throw notFound(`environment ${envId} was not found`);
  if (!state) {
    if (app && !(await deps.repo.getEnvironment(envId))) throw notFound(`environment ${envId} was not found`);
    throw notFound(`resource ${resourceId} was not found in environment ${envId}`);
  }
  const decision = decide(
    state.resource,
    state.grants,
    app ? appAdminFacts(caller.principalId) : factsOf(caller.principalId, ctx!),
  );
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
  if (!ctx.membership) throw notFound(`environment ${envId} was not found`);
  return ctx;
}

/** Decides for a principal given by id: a user, or else a group or list of the environment. */
async function decideForPrincipal(
  deps: Deps,
  envId: string,
  state: ResourceState,
  principalId: string,
  userCtx: PrincipalContext,
): Promise<Decision | undefined> {
  if (userCtx.user) return decide(state.resource, state.grants, factsOf(principalId, userCtx));
  const group = await deps.repo.getGroup(envId, principalId);
  if (!group) return undefined;
  const ref: PrincipalRef = {
    type: group.group.kind === "sharePointList" ? "sharePointList" : "group",
    id: principalId,
  };
  const own: Grant[] = state.grants.filter((g) => g.principalType === ref.type && g.principalId === ref.id);
  const d = decide(state.resource, own, { principalId, enabled: true, securityRoles: ["BasicUser"], memberOf: [ref] });
  return d;
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
  const [state, principalCtx, callerCtx] = await Promise.all([
    deps.repo.resourceState(envId, resourceId),
    deps.repo.principalContext(envId, principalId),
    self || app ? Promise.resolve(undefined) : deps.repo.principalContext(envId, caller.principalId),
  ]);
  const askerCtx = self ? principalCtx : callerCtx;
  if (!app && !askerCtx?.membership) throw notFound(`environment ${envId} was not found`);
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
  const d = await decideForPrincipal(deps, envId, state, principalId, principalCtx);
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
  resourceId: string;
  action: string;
}

/**
 * `POST .../check`: up to 100 questions, answered in order. Each distinct resource and principal is
 * read once, all reads issued together, so a single item costs two requests in one round trip.
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
  const principalIds = [...new Set([...items.map((i) => i.principalId), ...(app ? [] : [caller.principalId])])];
  const [states, contexts] = await Promise.all([
    Promise.all(resourceIds.map((r) => deps.repo.resourceState(envId, r))),
    Promise.all(principalIds.map((p) => deps.repo.principalContext(envId, p))),
  ]);
  const stateOf = new Map(resourceIds.map((r, i) => [r, states[i]]));
  const ctxOf = new Map(principalIds.map((p, i) => [p, contexts[i]!]));
  if (!app && !ctxOf.get(caller.principalId)?.membership) throw notFound(`environment ${envId} was not found`);
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
    const ctx = ctxOf.get(item.principalId)!;
    if (!ctx.user) {
      results.push({ allowed: false, reason: `principal ${item.principalId} is not a known user` });
      continue;
    }
    const d = decide(state.resource, state.grants, factsOf(item.principalId, ctx));
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
