import { randomBytes } from "node:crypto";
import { conflict, forbidden, invalid, notFound, ruleViolation, type FieldError } from "../errors.js";
import type {
  Environment,
  Grant,
  Invitation,
  InvitationStatus,
  PrincipalRef,
  Resource,
  TenantUser,
} from "../model/records.js";
import type { EmailJob } from "../model/emailJobs.js";
import type { ConnectionToFix } from "../model/reassignments.js";
import {
  grantableRoles,
  isRoleOf,
  ownershipRoles,
  principalTypesByRole,
  verbToManage,
  type ActionName,
  type ResourceKind,
  type Role,
} from "../rules/matrix.js";
import type { ChangeEntry } from "../model/records.js";
import { factsOf } from "../model/memberFacts.js";
import { nonBusinessConnectors } from "../rules/dlp.js";
import { requireAction, viewAsCaller } from "./access.js";
import { isAppAdmin, type Capabilities, type Caller } from "./capabilities.js";
import { withResolveRoute } from "./connections.js";
import { changeEntry, changeResource, outboxItems } from "./mutate.js";
import { expiriesOf, principalKey, rolesOf, type Known } from "./relay.js";
import { expiryItems, isPermanentOwner, requireExpiryAllowed } from "./expiry.js";

type Deps = Pick<
  Capabilities,
  "repo" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock" | "invitationTtlDays"
>;

export interface ShareRequest {
  role: Role;
  principals: PrincipalRef[];
  sendInvitation: boolean;
  message?: string | undefined;
  connectionChoices?: Record<string, "embedded" | "invoker"> | undefined;
  /** Time-bound grants: when the grants end (ISO 8601, in the future; docs/expiry.md). */
  expiresAt?: string | undefined;
}

export interface InvitationView {
  id: string;
  principalId: string;
  principalType: PrincipalRef["type"];
  role: Role;
  status: InvitationStatus;
  createdAt: string;
  expiresAt: string;
  sentAt?: string | undefined;
  acceptedAt?: string | undefined;
}

export interface ShareResult {
  created: boolean;
  grants: Grant[];
  invitations: InvitationView[];
  warnings: string[];
}

/** The action a caller needs to grant or revoke a role on a resource kind. */
export function manageAction(kind: ResourceKind, role: Role): ActionName | undefined {
  const verb = (verbToManage[kind] as Partial<Record<Role, string>>)[role];
  return verb ? (`${kind}.${verb}` as ActionName) : undefined;
}

/**
 * The grant an invitation was sent for: same principal and role, and the grant names the invitation
 * (a later share of the same role is another grant, so it doesn't revive an older link). A revoke doesn't touch invitations (that would read every invitation of the
 * resource); without its grant, or with only a newer grant from a later share, an invitation is
 * revoked, and every reader derives it so.
 */
export function standingGrant(grants: readonly Grant[], i: Invitation): Grant | undefined {
  return grants.find(
    (g) =>
      g.principalType === i.principalType &&
      g.principalId === i.principalId &&
      g.role === i.role &&
      g.invitationId === i.invitationId,
  );
}

const open = (s: InvitationStatus) => s === "queued" || s === "sent" || s === "failed";

/**
 * An invitation's status as callers see it: queued or sent ones past their expiry read as expired;
 * given the resource's grants, open ones whose grant is gone read as revoked.
 */
export function invitationView(i: Invitation, now: Date, grants?: readonly Grant[]): InvitationView {
  const revoked = grants !== undefined && open(i.status) && !standingGrant(grants, i);
  const expired = (i.status === "queued" || i.status === "sent") && new Date(i.expiresAt) <= now;
  return {
    id: i.invitationId,
    principalId: i.principalId,
    principalType: i.principalType,
    role: i.role,
    status: revoked ? "revoked" : expired ? "expired" : i.status,
    createdAt: i.createdAt,
    expiresAt: i.expiresAt,
    ...(i.sentAt ? { sentAt: i.sentAt } : {}),
    ...(i.acceptedAt ? { acceptedAt: i.acceptedAt } : {}),
  };
}

const newNonce = () => randomBytes(12).toString("base64url");

interface Target {
  ref: PrincipalRef;
  user?: TenantUser | undefined;
  memberOfEnvironment: boolean;
}

/** Reads each principal named in a share and checks it can receive the role. */
async function resolveTargets(deps: Deps, envId: string, principals: PrincipalRef[]): Promise<Target[]> {
  const errors: FieldError[] = [];
  const targets = await Promise.all(
    principals.map(async (p, i): Promise<Target | undefined> => {
      if (p.type === "user") {
        const ctx = await deps.repo.principalContext(envId, p.id);
        if (!ctx.user) {
          errors.push({ field: `body.principals[${i}].id`, message: `user ${p.id} is not in the tenant directory` });
          return undefined;
        }
        if (!ctx.user.enabled) {
          errors.push({ field: `body.principals[${i}].id`, message: `user ${p.id} is disabled` });
          return undefined;
        }
        return { ref: p, user: ctx.user, memberOfEnvironment: ctx.membership !== undefined };
      }
      const group = await deps.repo.getGroup(envId, p.id);
      const wantedKind = p.type === "group" ? "securityGroup" : "sharePointList";
      if (!group || group.group.kind !== wantedKind) {
        errors.push({ field: `body.principals[${i}].id`, message: `${p.type} ${p.id} is not in environment ${envId}` });
        return undefined;
      }
      return { ref: p, memberOfEnvironment: true };
    }),
  );
  if (errors.length > 0) throw invalid("some principals can't be shared with", errors);
  return targets.filter((t): t is Target => t !== undefined);
}

/** `POST .../shares`: grants one role to principals, invites them and records it. */
export async function share(
  deps: Deps,
  caller: Caller,
  envId: string,
  resourceId: string,
  req: ShareRequest,
): Promise<ShareResult> {
  const principals = dedupe(req.principals);
  return changeResource(deps, async () => {
    const [view, env, targets] = await Promise.all([
      viewAsCaller(deps, caller, envId, resourceId, principals),
      deps.repo.getEnvironment(envId),
      resolveTargets(deps, envId, principals),
    ]);
    const resource = view.state.resource;
    const kind = resource.kind;
    if (!env) throw notFound(`environment ${envId} was not found`);
    if (!(grantableRoles[kind] as readonly string[]).includes(req.role)) {
      throw invalid(`role ${req.role} can't be shared on a ${kind} resource`, [
        { field: "body.role", message: `must be one of ${grantableRoles[kind].join(", ")}` },
      ]);
    }
    requireAction(view, manageAction(kind, req.role)!);
    checkShareRules(view.ctx?.user, isAppAdmin(caller), resource, env, req, principals);

    const now = deps.clock();
    const expiresAt = req.expiresAt === undefined ? undefined : new Date(req.expiresAt).toISOString();
    for (const t of targets) requireExpiryAllowed(env, resource, t.ref, req.role, t.user, expiresAt, now);
    const existing = new Set(view.state.grants.map((g) => `${g.principalType}|${g.principalId}|${g.role}`));
    const fresh = targets.filter((t) => !existing.has(`${t.ref.type}|${t.ref.id}|${req.role}`));
    const warnings = shareWarnings(req, targets, resource, env);
    if (fresh.length === 0) {
      const same = view.state.grants.filter(
        (g) => g.role === req.role && principals.some((p) => p.type === g.principalType && p.id === g.principalId),
      );
      return { result: { created: false, grants: same, invitations: [], warnings } };
    }

    const invitations: Invitation[] = req.sendInvitation
      ? fresh
          .filter((t) => t.ref.type === "user")
          .map((t) => ({
            invitationId: deps.newId(),
            principalType: t.ref.type,
            principalId: t.ref.id,
            role: req.role,
            status: "queued",
            nonce: newNonce(),
            sharedBy: caller.principalId,
            ...(req.message ? { message: req.message } : {}),
            createdAt: now.toISOString(),
            expiresAt: new Date(now.getTime() + deps.invitationTtlDays * 86_400_000).toISOString(),
          }))
      : [];
    const invitationIdFor = (p: PrincipalRef) => {
      const i = invitations.find((x) => x.principalType === p.type && x.principalId === p.id);
      return i ? { invitationId: i.invitationId } : {};
    };
    const grants: Grant[] = fresh.map((t) => ({
      principalType: t.ref.type,
      principalId: t.ref.id,
      role: req.role,
      grantedBy: caller.principalId,
      grantedAt: now.toISOString(),
      ...(req.role === "runOnly" ? { connectionChoices: runOnlyChoices(resource, req.connectionChoices) } : {}),
      ...invitationIdFor(t.ref),
      ...(expiresAt ? { expiresAt } : {}),
    }));
    await addToEnvironment(deps, env, fresh, caller.principalId);
    const changes: ChangeEntry[] = [
      ...grants.map((g) =>
        changeEntry(deps, {
          actorId: caller.principalId,
          action: "grant",
          resourceId,
          principal: { type: g.principalType, id: g.principalId },
          role: g.role,
          detail: `granted ${g.role} on ${kind} ${resource.displayName}`,
        }),
      ),
      ...invitations.map((i) =>
        changeEntry(deps, {
          actorId: caller.principalId,
          action: "invitation.queued",
          resourceId,
          principal: { type: i.principalType, id: i.principalId },
          role: i.role,
          detail: `invitation ${i.invitationId} queued`,
        }),
      ),
    ];
    const jobs: EmailJob[] = invitations.map((i) => ({
      kind: "invitation",
      envId,
      resourceId,
      invitationId: i.invitationId,
      nonce: i.nonce,
    }));
    if (env.sensitive && ownershipRoles.includes(req.role)) {
      for (const g of grants) {
        jobs.push({
          kind: "ownerAlert",
          envId,
          resourceId,
          principal: { type: g.principalType, id: g.principalId },
          role: g.role,
          actorId: caller.principalId,
          at: g.grantedAt,
          alertId: deps.newId(),
          // A group or list granted a role is named once, not member by member (members who join later are alerted then).
          how: "share",
        });
      }
    }
    const change = {
      etag: view.state.etag,
      resource,
      putGrants: grants,
      putInvitations: invitations,
      changes,
      outbox: outboxItems(deps, [
        {
          type: "index",
          envId,
          resourceId,
          principals: grants.map((g) => ({ type: g.principalType, id: g.principalId })),
        },
        { type: "log", envId, entries: changes },
        ...(jobs.length > 0 ? [{ type: "email" as const, jobs }] : []),
        ...expiryItems(envId, resourceId, grants, now),
      ]),
    };
    const result: ShareResult = {
      created: true,
      grants,
      invitations: invitations.map((i) => invitationView(i, now)),
      warnings,
    };
    // The state just committed: the relay writes the named principals' index rows from it.
    const known: Known = {
      resource,
      roles: new Map(
        fresh.map((t) => [principalKey(t.ref), [...rolesOf(view.state.grants, t.ref), req.role]] as const),
      ),
      expiries: new Map(
        fresh.map(
          (t) =>
            [
              principalKey(t.ref),
              { ...expiriesOf(view.state.grants, t.ref), ...(expiresAt ? { [req.role]: expiresAt } : {}) },
            ] as const,
        ),
      ),
    };
    return { change, result, known };
  });
}

function dedupe(principals: PrincipalRef[]): PrincipalRef[] {
  const seen = new Set<string>();
  return principals.filter((p) => {
    const k = `${p.type}|${p.id}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The domain rules of sharing that answer 400 (a field can't hold that) or 422 (a rule forbids it). */
function checkShareRules(
  sharer: TenantUser | undefined,
  app: boolean,
  resource: Resource,
  env: Environment,
  req: ShareRequest,
  principals: PrincipalRef[],
): void {
  const kind = resource.kind;
  const allowedTypes = (principalTypesByRole[kind] as Record<string, readonly string[]>)[req.role] ?? [];
  const badTypes = principals.flatMap((p, i) =>
    allowedTypes.includes(p.type)
      ? []
      : [
          {
            field: `body.principals[${i}].type`,
            message: `${req.role} of a ${kind} resource can't be given to a ${p.type}`,
          },
        ],
  );
  if (badTypes.length > 0) throw invalid("some principals can't receive this role", badTypes);
  if (kind === "cloudFlow" && !app && sharer?.license === "free") {
    throw ruleViolation("a user with a free license can't share cloud flows; a paid or seeded license is needed");
  }
  if (req.role === "runOnly" && resource.triggerKind !== "instant") {
    throw ruleViolation(
      "run-only users can be added only to instant (manually triggered) flows; this flow is automated",
    );
  }
  if (env.sovereignCloud && principals.some((p) => p.type === "sharePointList")) {
    throw ruleViolation("SharePoint lists can't own flows in sovereign clouds (GCC High, DoD)");
  }
  if (req.connectionChoices && req.role !== "runOnly") {
    throw invalid("connection choices apply to run-only sharing", [
      { field: "body.connectionChoices", message: "only with role runOnly" },
    ]);
  }
  if (req.connectionChoices) {
    const known = new Set((resource.connections ?? []).map((c) => c.id));
    const unknown = Object.keys(req.connectionChoices).filter((id) => !known.has(id));
    if (unknown.length > 0) {
      throw invalid(
        "connection choices name connections the flow doesn't have",
        unknown.map((id) => ({ field: `body.connectionChoices.${id}`, message: "not a connection of this flow" })),
      );
    }
  }
}

/** For each connection the flow uses, whose credentials a run-only user's runs use (default: the flow's own). */
function runOnlyChoices(
  resource: Resource,
  chosen: ShareRequest["connectionChoices"],
): Record<string, "embedded" | "invoker"> {
  const out: Record<string, "embedded" | "invoker"> = {};
  for (const c of resource.connections ?? []) {
    if (c.usage === "embedded") out[c.id] = chosen?.[c.id] ?? "embedded";
  }
  return out;
}

function shareWarnings(req: ShareRequest, targets: Target[], resource: Resource, env: Environment): string[] {
  const warnings: string[] = [];
  if (req.sendInvitation) {
    for (const t of targets) {
      if (t.ref.type !== "user")
        warnings.push(`invitations are emailed to users only; ${t.ref.type} ${t.ref.id} was not emailed`);
    }
  }
  warnings.push(...dlpShareWarnings(req.role, targets, resource, env));
  return warnings;
}

/**
 * Data loss prevention (sharing-rules.md): sharing a flow that uses non-business connectors with
 * guests or run-only users warns and goes ahead. Everything needed is already on the share's path:
 * the environment row (its policy) and each user's profile (`resolveTargets`). A group's guests
 * aren't looked for (that would read its members); a group given run-only warns as run-only.
 */
function dlpShareWarnings(role: Role, targets: Target[], resource: Resource, env: Environment): string[] {
  if (resource.kind !== "cloudFlow") return [];
  const nonBusiness = nonBusinessConnectors(env.dlp, resource.connections);
  if (nonBusiness.length === 0) return [];
  const connectors = nonBusiness.map((c) => `"${c}"`).join(", ");
  return targets.flatMap((t) => {
    const guest = t.user?.userType === "guest";
    if (!guest && role !== "runOnly") return [];
    const who = `${guest ? "guest user" : t.ref.type} ${t.ref.id}${role === "runOnly" ? " (run-only)" : ""}`;
    return [
      `the flow uses non-business connector(s) ${connectors} under the environment's data loss prevention policy; sharing it with ${who} may let business data reach them`,
    ];
  });
}

/**
 * Sharing with a tenant user who isn't in the environment adds them (seed 004): with
 * EnvironmentMaker in the default environment, with no role elsewhere. Written before the grant;
 * if the grant then fails the user is a member with nothing shared, which is harmless.
 */
async function addToEnvironment(deps: Deps, env: Environment, targets: Target[], actorId: string): Promise<void> {
  await Promise.all(
    targets
      .filter((t) => t.ref.type === "user" && !t.memberOfEnvironment)
      .map((t) =>
        Promise.all([
          deps.repo.putMembership(
            {
              envId: env.envId,
              userId: t.ref.id,
              securityRoles: env.isDefault ? ["EnvironmentMaker"] : [],
              addedBy: "sharing",
            },
            t.user && factsOf(t.user),
          ),
          deps.repo.putEnvironmentChange(
            env.envId,
            changeEntry(deps, {
              actorId,
              action: "member.added",
              principal: t.ref,
              detail: env.isDefault
                ? "added to the environment with EnvironmentMaker by sharing"
                : "added to the environment with no security role by sharing",
            }),
          ),
        ]),
      ),
  );
}

export interface RevokeResult {
  revoked: { principalType: PrincipalRef["type"]; principalId: string; role: Role };
  warnings: string[];
  /** Contract v2: the embedded connections the warnings name, each with the route that resolves it. */
  connectionsToFix?: (ConnectionToFix & { resolveWith: string })[] | undefined;
}

/** `DELETE .../shares/{type}/{id}/{role}`. */
export async function revoke(
  deps: Deps,
  caller: Caller,
  envId: string,
  resourceId: string,
  principal: PrincipalRef,
  role: Role,
): Promise<RevokeResult> {
  return changeResource(deps, async () => {
    const view = await viewAsCaller(deps, caller, envId, resourceId, [principal]);
    const resource = view.state.resource;
    if (!isRoleOf(resource.kind, role)) {
      throw invalid(`${resource.kind} resources have no role ${role}`, [
        { field: "params.role", message: `must be one of ${grantableRoles[resource.kind].join(", ")}` },
      ]);
    }
    const action = manageAction(resource.kind, role);
    if (!action) throw conflict(`the ${role} of a ${resource.kind} resource changes only by reassignment`);
    requireAction(view, action);
    if (
      resource.kind === "cloudFlow" &&
      role === "owner" &&
      principal.type === "user" &&
      principal.id === resource.creatorId
    ) {
      throw conflict("the creator of a flow can never be removed as owner");
    }
    const grant = view.state.grants.find(
      (g) => g.principalType === principal.type && g.principalId === principal.id && g.role === role,
    );
    if (!grant) throw notFound(`${principal.type} ${principal.id} holds no ${role} grant on this resource`);
    const warnings: string[] = [];
    const connectionsToFix: RevokeResult["connectionsToFix"] = [];
    if (resource.kind === "cloudFlow" && role === "owner") {
      const orphaned = (resource.connections ?? []).filter(
        (c) => c.usage === "embedded" && principal.type === "user" && c.ownerId === principal.id,
      );
      for (const c of orphaned) {
        const fix = withResolveRoute(envId, {
          resourceId,
          connectionId: c.id,
          connector: c.connector,
          ownerId: c.ownerId,
        });
        connectionsToFix.push(fix);
        warnings.push(
          `embedded connection ${c.id} (${c.connector}) uses the credentials of removed owner ${principal.id}; an owner must give it new credentials (${fix.resolveWith})`,
        );
      }
    }
    const now = deps.clock();
    // The grant's invitations read as revoked from now on (`standingGrant`); they aren't rewritten.
    const entry = changeEntry(deps, {
      actorId: caller.principalId,
      action: "revoke",
      resourceId,
      principal,
      role,
      detail: `revoked ${role}${warnings.length > 0 ? `; ${warnings.length} embedded connection(s) need new credentials` : ""}`,
    });
    return {
      change: {
        etag: view.state.etag,
        resource: { ...resource, updatedAt: now.toISOString() },
        deleteGrants: [{ principal, role }],
        changes: [entry],
        outbox: outboxItems(deps, [
          { type: "index", envId, resourceId, principals: [principal] },
          { type: "log", envId, entries: [entry] },
        ]),
      },
      result: {
        revoked: { principalType: principal.type, principalId: principal.id, role },
        warnings,
        ...(connectionsToFix.length > 0 ? { connectionsToFix } : {}),
      },
      known: {
        resource: { ...resource, updatedAt: now.toISOString() },
        roles: new Map([[principalKey(principal), rolesOf(view.state.grants, principal).filter((r) => r !== role)]]),
        expiries: new Map([[principalKey(principal), expiriesOf(view.state.grants, principal)]]),
      },
    };
  });
}

/**
 * `PATCH .../shares/{type}/{id}/{role}` `{expiresAt}`: whoever may share that role extends, shortens
 * or (null, where no cap applies) removes a grant's expiry, within the environment's caps. The same
 * path as a share: one transaction under the resource's ETag with the grant, the change entry and
 * the outbox (index rows with the new expiry, the expiry rows of the new instant, the log).
 */
export async function setExpiry(
  deps: Deps,
  caller: Caller,
  envId: string,
  resourceId: string,
  principal: PrincipalRef,
  role: Role,
  expiresAtAsked: string | null,
): Promise<Grant> {
  return changeResource(deps, async () => {
    const [view, env] = await Promise.all([
      viewAsCaller(deps, caller, envId, resourceId, [principal]),
      deps.repo.getEnvironment(envId),
    ]);
    const resource = view.state.resource;
    if (!env) throw notFound(`environment ${envId} was not found`);
    if (!isRoleOf(resource.kind, role)) {
      throw invalid(`${resource.kind} resources have no role ${role}`, [
        { field: "params.role", message: `must be one of ${grantableRoles[resource.kind].join(", ")}` },
      ]);
    }
    const action = manageAction(resource.kind, role);
    if (action) requireAction(view, action);
    else if (!isPermanentOwner(resource, principal, role))
      throw conflict(`the ${role} of a ${resource.kind} resource changes only by reassignment`);
    // The primary owner's grant, which no share manages: only those who may share something here get
    // to hear that it can't expire.
    else if (!view.decision.actions.some((a) => /\.(share|manageOwners|manageRunOnlyUsers)$/.test(a)))
      throw forbidden(`only those who may share this ${resource.kind} resource may change its grants`);
    const grant = view.state.grants.find(
      (g) => g.principalType === principal.type && g.principalId === principal.id && g.role === role,
    );
    if (!grant) throw notFound(`${principal.type} ${principal.id} holds no ${role} grant on this resource`);
    const now = deps.clock();
    const expiresAt = expiresAtAsked === null ? null : new Date(expiresAtAsked).toISOString();
    const user = principal.type === "user" ? await deps.repo.getUser(principal.id) : undefined;
    requireExpiryAllowed(env, resource, principal, role, user, expiresAt, now);
    if ((grant.expiresAt ?? null) === expiresAt) return { result: grant };
    const { expiresAt: _old, ...rest } = grant;
    const updated: Grant = { ...rest, ...(expiresAt ? { expiresAt } : {}) };
    const entry = changeEntry(deps, {
      actorId: caller.principalId,
      action: "expiry.changed",
      resourceId,
      principal,
      role,
      detail: expiresAt ? `${role} now expires at ${expiresAt}` : `${role} no longer expires`,
    });
    const grants = view.state.grants.map((g) => (g === grant ? updated : g));
    return {
      result: updated,
      change: {
        etag: view.state.etag,
        resource,
        putGrants: [updated],
        changes: [entry],
        outbox: outboxItems(deps, [
          { type: "index", envId, resourceId, principals: [principal] },
          { type: "log", envId, entries: [entry] },
          ...expiryItems(envId, resourceId, [updated], now),
        ]),
      },
      known: {
        resource,
        roles: new Map([[principalKey(principal), rolesOf(grants, principal)]]),
        expiries: new Map([[principalKey(principal), expiriesOf(grants, principal)]]),
      },
    };
  });
}

export interface SharedWith {
  resourceId: string;
  kind: ResourceKind;
  creatorId: string;
  ownerId: string;
  grants: (Grant & { isCreator: boolean; isPrimaryOwner: boolean })[];
  invitations: InvitationView[];
}

/**
 * `GET .../shares`: every grant, the creator, and the invitations, for those whose roles give the
 * kind's `viewSharing` (owners and admins of flows, never their run-only users; every role of processes).
 */
export async function sharedWith(deps: Deps, caller: Caller, envId: string, resourceId: string): Promise<SharedWith> {
  const view = await viewAsCaller(deps, caller, envId, resourceId);
  requireAction(view, `${view.state.resource.kind}.viewSharing`);
  const full = await deps.repo.fullResourceState(envId, resourceId);
  if (!full) throw notFound(`resource ${resourceId} was not found in environment ${envId}`);
  const now = deps.clock();
  const r = full.resource;
  return {
    resourceId,
    kind: r.kind,
    creatorId: r.creatorId,
    ownerId: r.ownerId,
    grants: full.grants.map((g) => ({
      ...g,
      isCreator: g.principalType === "user" && g.principalId === r.creatorId && g.role === "owner",
      isPrimaryOwner: g.principalType === "user" && g.principalId === r.ownerId && g.role === "owner",
    })),
    invitations: full.invitations.map((i) => invitationView(i, now, full.grants)),
  };
}
