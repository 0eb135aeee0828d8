/**
 * The product rules of `../shared/spec/sharing-rules.md` as data. Everything that decides who may
 * do what is read from these tables; the functions below only combine them.
 */

export const resourceKinds = ["processMining", "taskMining", "cloudFlow"] as const;
export type ResourceKind = (typeof resourceKinds)[number];

export const rolesByKind = {
  processMining: ["owner", "coOwner", "viewer"],
  taskMining: ["owner", "coOwner", "contributor"],
  cloudFlow: ["owner", "runOnly"],
} as const satisfies Record<ResourceKind, readonly string[]>;

export type RoleOf<K extends ResourceKind> = (typeof rolesByKind)[K][number];
export type Role = RoleOf<ResourceKind>;
export const allRoles = ["owner", "coOwner", "viewer", "contributor", "runOnly"] as const satisfies readonly Role[];

export const verbsByKind = {
  processMining: ["viewDetails", "viewAnalytics", "editDetails", "share", "editDataflow", "delete", "viewSharing"],
  taskMining: [
    "viewDetails",
    "viewAnalytics",
    "updateProperties",
    "share",
    "addRecording",
    "labelOwnRecording",
    "deleteOwnRecording",
    "labelOthersRecording",
    "deleteOthersRecording",
    "analyze",
    "delete",
    "viewSharing",
  ],
  cloudFlow: [
    "run",
    "viewRunHistory",
    "manageProperties",
    "editDefinition",
    "manageOwners",
    "manageRunOnlyUsers",
    "sendCopy",
    "delete",
    "viewSharing",
  ],
} as const satisfies Record<ResourceKind, readonly string[]>;

export type VerbOf<K extends ResourceKind> = (typeof verbsByKind)[K][number];
/** An action's public name, `kind.verb`, e.g. `processMining.viewAnalytics`. */
export type ActionName = { [K in ResourceKind]: `${K}.${VerbOf<K>}` }[ResourceKind];

export const actionNames: readonly ActionName[] = resourceKinds.flatMap((kind) =>
  verbsByKind[kind].map((verb) => `${kind}.${verb}` as ActionName),
);

/**
 * Privileges an environment's custom security roles may hold per kind (seeds 000–003: "any security
 * role that has share permissions on the … system entities"). Environment-wide: a holder's privilege
 * reaches every resource of that kind in the environment.
 */
export const privileges = ["share"] as const;
export type Privilege = (typeof privileges)[number];

/** The holder a privilege makes of its role's members, as the tables below and `via` name it. */
export const privilegeHolder = (p: Privilege) => `securityRole.${p}` as const;
export type PrivilegeHolder = ReturnType<typeof privilegeHolder>;

/** Who acts: a role on the resource, the environment's SystemAdministrator role, or a custom role's privilege. */
export type Holder = Role | "admin" | PrivilegeHolder;

/**
 * Which holder may do which verb. Admin columns: process mining admins have every right (seed 000);
 * task mining admins who don't own the process may only manage its sharing (seed 003, "the admin
 * experience for processes they don't own isn't supported"); cloud flow admins, which the flow
 * documents don't describe, may manage owners and run-only users and nothing else (our decision,
 * so that governance and reassignment need no content rights).
 *
 * `viewSharing` is "see who it is shared with" (the shares listing: grants, creator, invitations).
 * Processes keep it for every role that sees their details (the details page's "Shared with" card,
 * seeds 000/003) and for whoever may share; flows give it to owners and to whoever may manage their
 * owners and run-only users, never to run-only users, who "cannot view the flow" (seed 004).
 */
export const allowedVerbs: {
  [K in ResourceKind]: Record<RoleOf<K> | "admin" | PrivilegeHolder, readonly VerbOf<K>[]>;
} = {
  // Owners may do everything their kind allows.
  processMining: {
    owner: verbsByKind.processMining,
    coOwner: ["viewDetails", "viewAnalytics", "editDetails", "share", "viewSharing"],
    viewer: ["viewDetails", "viewAnalytics", "viewSharing"],
    // Admins have access to every process implicitly (seed 000).
    admin: verbsByKind.processMining,
    // A custom role's share privilege: view the details of, share and revoke, as an admin may, and no more.
    "securityRole.share": ["viewDetails", "share", "viewSharing"],
  },
  taskMining: {
    owner: verbsByKind.taskMining,
    coOwner: [
      "viewDetails",
      "viewAnalytics",
      "updateProperties",
      "share",
      "addRecording",
      "labelOwnRecording",
      "deleteOwnRecording",
      "labelOthersRecording",
      "deleteOthersRecording",
      "delete",
      "viewSharing",
    ],
    contributor: ["viewDetails", "addRecording", "labelOwnRecording", "deleteOwnRecording", "viewSharing"],
    admin: ["share", "viewSharing"],
    "securityRole.share": ["viewDetails", "share", "viewSharing"],
  },
  cloudFlow: {
    owner: verbsByKind.cloudFlow,
    runOnly: ["run"],
    admin: ["manageOwners", "manageRunOnlyUsers", "viewSharing"],
    // Flows have no details verb: sharing them is managing owners and run-only users (the roles an owner grants).
    "securityRole.share": ["manageOwners", "manageRunOnlyUsers", "viewSharing"],
  },
};

/** The roles that may be granted by sharing (the owner role of processes comes only from creation or reassignment). */
export const grantableRoles: { [K in ResourceKind]: readonly RoleOf<K>[] } = {
  processMining: ["coOwner", "viewer"],
  taskMining: ["coOwner", "contributor"],
  cloudFlow: ["owner", "runOnly"],
};

/** The verb a sharer needs to grant or revoke a role. */
export const verbToManage: { [K in ResourceKind]: Partial<Record<RoleOf<K>, VerbOf<K>>> } = {
  processMining: { coOwner: "share", viewer: "share" },
  taskMining: { coOwner: "share", contributor: "share" },
  cloudFlow: { owner: "manageOwners", runOnly: "manageRunOnlyUsers" },
};

/** Roles that count as ownership: audits, alerts in sensitive environments, "no enabled owner". */
export const ownershipRoles: readonly Role[] = ["owner", "coOwner"];

/** Which principal types may hold which role (groups here are a Beyond; SharePoint lists only own flows). */
export const principalTypes = ["user", "group", "sharePointList"] as const;
export type PrincipalType = (typeof principalTypes)[number];

export const principalTypesByRole: { [K in ResourceKind]: Record<RoleOf<K>, readonly PrincipalType[]> } = {
  processMining: { owner: ["user"], coOwner: ["user", "group"], viewer: ["user", "group"] },
  taskMining: { owner: ["user"], coOwner: ["user", "group"], contributor: ["user", "group"] },
  cloudFlow: { owner: ["user", "group", "sharePointList"], runOnly: ["user", "group"] },
};

/** Verbs a member of an environment who holds no security role may still use (seed 004: run only). */
export const verbsWithoutSecurityRole: readonly ActionName[] = ["cloudFlow.run"];

export function isRoleOf(kind: ResourceKind, role: string): role is RoleOf<typeof kind> {
  return (rolesByKind[kind] as readonly string[]).includes(role);
}

export function isVerbOf(kind: ResourceKind, verb: string): verb is VerbOf<typeof kind> {
  return (verbsByKind[kind] as readonly string[]).includes(verb);
}

export function parseActionName(name: string): { kind: ResourceKind; verb: string } | undefined {
  const [kind, verb, ...rest] = name.split(".");
  if (rest.length > 0 || kind === undefined || verb === undefined) return undefined;
  const k = resourceKinds.find((x) => x === kind);
  if (!k || !isVerbOf(k, verb)) return undefined;
  return { kind: k, verb };
}

export function verbsFor(kind: ResourceKind, holder: Holder): readonly string[] {
  const table: Record<string, readonly string[]> = allowedVerbs[kind];
  return table[holder] ?? [];
}
