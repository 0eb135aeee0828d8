import {
  privilegeHolder,
  resourceKinds,
  verbsByKind,
  verbsFor,
  verbsWithoutSecurityRole,
  type ActionName,
  type Holder,
  type PrincipalType,
  type Privilege,
  type ResourceKind,
  type Role,
} from "./matrix.js";

/** The facts about a resource that decisions need. */
export interface ResourceFacts {
  kind: ResourceKind;
  /** Cloud flows only: run-only users may run instant flows only. */
  triggerKind?: "instant" | "automated" | undefined;
}

/** A grant as decisions see it. */
export interface GrantFacts {
  principalType: PrincipalType;
  principalId: string;
  role: Role;
}

/** Who is asking to act, as read from the directory. */
export interface PrincipalFacts {
  principalId: string;
  /** False when the tenant directory has the user disabled: a disabled user does nothing. */
  enabled: boolean;
  /** True when provisioning deactivated the user's membership of this environment: nothing there either. */
  suspended?: boolean | undefined;
  /** The environment membership; undefined when the user is not a member. */
  securityRoles: readonly string[] | undefined;
  /** Groups and SharePoint lists of this environment the user belongs to. */
  memberOf: readonly { type: PrincipalType; id: string }[];
  /** What the custom security roles of the membership allow (read with it, so always current). */
  privileges?: readonly HeldPrivilege[] | undefined;
}

/** A privilege on a kind that one of the principal's custom security roles holds. */
export interface HeldPrivilege {
  roleId: string;
  kind: ResourceKind;
  privilege: Privilege;
}

/**
 * The privileges a membership's custom roles hold, from every custom role's privileges by id (roles
 * the environment doesn't define, such as the built-in ones, hold none).
 */
export function privilegeList(
  securityRoles: readonly string[],
  defined: Readonly<Record<string, Partial<Record<ResourceKind, readonly Privilege[]>>>>,
): HeldPrivilege[] {
  return securityRoles.flatMap((roleId) => {
    const held = Object.hasOwn(defined, roleId) ? defined[roleId]! : {};
    return resourceKinds.flatMap((kind) => (held[kind] ?? []).map((privilege) => ({ roleId, kind, privilege })));
  });
}

export type Through = { type: PrincipalType; id: string } | { type: "securityRole"; id: string } | "direct" | "admin";

export interface Decision {
  roles: Role[];
  actions: ActionName[];
  via: { role: Holder; through: Through }[];
  /** Why actions are missing that the roles would give, if anything limits them. */
  limitation?: "disabled" | "suspended" | "noSecurityRole" | undefined;
}

export function isEnvironmentAdmin(p: Pick<PrincipalFacts, "securityRoles">): boolean {
  return p.securityRoles?.includes("SystemAdministrator") ?? false;
}

/**
 * What a principal may do on a resource: every role it holds directly or through a group or list,
 * plus the environment admin's implicit rights and its custom roles' privileges on the resource's
 * kind, turned into actions by the rules' tables.
 */
export function decide(resource: ResourceFacts, grants: readonly GrantFacts[], principal: PrincipalFacts): Decision {
  const via: Decision["via"] = [];
  const roles = new Set<Role>();
  for (const g of grants) {
    let through: Through | undefined;
    if (g.principalType === "user" && g.principalId === principal.principalId) through = "direct";
    else if (
      g.principalType !== "user" &&
      principal.memberOf.some((m) => m.type === g.principalType && m.id === g.principalId)
    ) {
      through = { type: g.principalType, id: g.principalId };
    }
    if (through === undefined) continue;
    roles.add(g.role);
    via.push({ role: g.role, through });
  }
  const holders: Holder[] = [...roles];
  if (isEnvironmentAdmin(principal)) {
    holders.push("admin");
    via.push({ role: "admin", through: "admin" });
  }
  for (const p of principal.privileges ?? []) {
    if (p.kind !== resource.kind) continue;
    const holder = privilegeHolder(p.privilege);
    if (!holders.includes(holder)) holders.push(holder);
    via.push({ role: holder, through: { type: "securityRole", id: p.roleId } });
  }
  const verbs = new Set<string>();
  for (const h of holders) {
    for (const v of verbsFor(resource.kind, h)) {
      if (resource.kind === "cloudFlow" && v === "run" && h === "runOnly" && resource.triggerKind !== "instant")
        continue;
      verbs.add(v);
    }
  }
  let actions = orderedActions(resource.kind, verbs);
  let limitation: Decision["limitation"];
  if (!principal.enabled || principal.suspended === true) {
    limitation = actions.length > 0 ? (principal.enabled ? "suspended" : "disabled") : undefined;
    actions = [];
  } else if (principal.securityRoles !== undefined && principal.securityRoles.length === 0) {
    const kept = actions.filter((a) => verbsWithoutSecurityRole.includes(a));
    if (kept.length < actions.length) limitation = "noSecurityRole";
    actions = kept;
  }
  return { roles: [...roles], actions, via, limitation };
}

function orderedActions(kind: ResourceKind, verbs: ReadonlySet<string>): ActionName[] {
  const all: readonly string[] = verbsByKind[kind];
  return all.filter((v) => verbs.has(v)).map((v) => `${kind}.${v}` as ActionName);
}

/** Why a principal's roles give fewer actions than usual. */
export function limitationText(limitation: NonNullable<Decision["limitation"]>): string {
  if (limitation === "suspended")
    return "the user's membership of this environment is suspended (deactivated by provisioning)";
  return limitation === "disabled"
    ? "the user is disabled in the tenant directory"
    : "the user has no security role in this environment and may only run flows until an environment admin assigns a role (for example EnvironmentMaker)";
}

/** A sentence saying why an action is not allowed, for 403 details and check results. */
export function explainRefusal(action: ActionName, decision: Decision, resourceKind: ResourceKind): string {
  if (decision.limitation) return limitationText(decision.limitation);
  if (decision.via.length === 0) return `the principal holds no role on this ${resourceKind} resource`;
  const held = decision.via.map(describeHolder).join(", ");
  return `${action} is not allowed for ${held}`;
}

function describeHolder(v: Decision["via"][number]): string {
  if (v.role === "admin") return "environment admin";
  if (typeof v.through === "object" && v.through.type === "securityRole")
    return `${v.role} (security role ${v.through.id})`;
  return v.role;
}
