import { ConcurrencyError, conflict, notFound } from "../errors.js";
import { maxCustomSecurityRoles, type CustomSecurityRole, type RolePrivileges } from "../model/records.js";
import { resourceKinds } from "../rules/matrix.js";
import { keys } from "../store/keys.js";
import { requireEnvironmentPart } from "./access.js";
import { requireEnvironmentAdmin } from "./adminGate.js";
import { isAppProvisioner, type Capabilities, type Caller } from "./capabilities.js";
import { logItem, outboxItems } from "./mutate.js";
import { continuationOf, page, topOf, type Page, type PageQuery } from "./reads.js";
import { relayNow } from "./relay.js";

type Deps = Pick<Capabilities, "repo" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock">;

/** Attempts of one role write against concurrent writers of the environment's roles before 409. */
const maxTries = 5;

/** The privileges in one canonical form (kinds in table order, no duplicates, no empty lists), to compare and store. */
function canonical(p: RolePrivileges): RolePrivileges {
  const out: RolePrivileges = {};
  for (const kind of resourceKinds) {
    const list = [...new Set(p[kind] ?? [])].sort();
    if (list.length > 0) out[kind] = list;
  }
  return out;
}

function describePrivileges(p: RolePrivileges): string {
  const parts = resourceKinds.flatMap((k) => (p[k] ? [`${p[k].join("+")} on ${k}`] : []));
  return parts.join(", ") || "no privileges";
}

/**
 * `PUT .../securityRoles/{roleId}` (environment admins): creates or replaces a custom role. Its
 * privileges count for every member holding it from the moment this returns, since checks read them
 * beside the membership. At most `maxCustomSecurityRoles` per environment (409 beyond).
 */
export async function putSecurityRole(
  deps: Deps,
  caller: Caller,
  input: CustomSecurityRole,
): Promise<{ created: boolean; role: CustomSecurityRole }> {
  await requireEnvironmentAdmin(deps, caller, input.envId);
  const role: CustomSecurityRole = { ...input, privileges: canonical(input.privileges) };
  for (let tries = 1; ; tries++) {
    const [all, previous] = await Promise.all([
      deps.repo.securityRoles.privileges(role.envId),
      deps.repo.securityRoles.get(role.envId, role.roleId),
    ]);
    if (
      previous &&
      previous.displayName === role.displayName &&
      describePrivileges(previous.privileges) === describePrivileges(role.privileges)
    )
      return { created: false, role: previous };
    const known = Object.hasOwn(all.row.roles, role.roleId);
    if (!known && Object.keys(all.row.roles).length >= maxCustomSecurityRoles)
      throw conflict(
        `environment ${role.envId} already has ${maxCustomSecurityRoles} custom security roles, the most it may hold`,
      );
    const detail = previous
      ? `updated security role ${role.roleId} (${role.displayName}): ${describePrivileges(previous.privileges)} → ${describePrivileges(role.privileges)}`
      : `created security role ${role.roleId} (${role.displayName}): ${describePrivileges(role.privileges)}`;
    const items = outboxItems(deps, [
      logItem(deps, role.envId, caller, {
        action: previous ? "securityRole.updated" : "securityRole.created",
        detail: detail.slice(0, 2000),
      }),
    ]);
    try {
      await deps.repo.securityRoles.put(role, all.row, all.etag, items);
    } catch (e) {
      // Another role of the environment was written since the read: read again, so the cap holds.
      if (e instanceof ConcurrencyError && tries < maxTries) continue;
      if (e instanceof ConcurrencyError) throw conflict("the environment's security roles kept changing; try again");
      throw e;
    }
    await relayNow(deps, "directory", keys.directoryPk(role.envId), items);
    return { created: !previous, role };
  }
}

/**
 * Who may read an environment's roles: its active members (their effective access names the custom
 * role a privilege comes from, and a role holds nothing personal), and Sharing apps, provisioning
 * included since it assigns roles in memberships.
 */
async function requireRoleReader(deps: Deps, caller: Caller, envId: string): Promise<void> {
  if (isAppProvisioner(caller)) {
    if (!(await deps.repo.getEnvironment(envId))) throw notFound(`environment ${envId} was not found`);
    return;
  }
  await requireEnvironmentPart(deps, caller, envId);
}

/** `GET .../securityRoles/{roleId}`. */
export async function getSecurityRole(
  deps: Deps,
  caller: Caller,
  envId: string,
  roleId: string,
): Promise<CustomSecurityRole> {
  const [, role] = await Promise.all([
    requireRoleReader(deps, caller, envId),
    deps.repo.securityRoles.get(envId, roleId),
  ]);
  if (!role) throw notFound(`security role ${roleId} was not found in environment ${envId}`);
  return role;
}

/** `GET .../securityRoles`: the environment's custom roles in id order, a page at a time. */
export async function listSecurityRoles(
  deps: Deps,
  caller: Caller,
  envId: string,
  q: PageQuery,
): Promise<Page<CustomSecurityRole>> {
  await requireRoleReader(deps, caller, envId);
  const p = await deps.repo.securityRoles.page(envId, continuationOf(q, "roles"), topOf(q));
  return page(p.roles, "roles", p.continuation);
}
