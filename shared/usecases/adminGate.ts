import { forbidden, notFound } from "../errors.js";
import type { Environment } from "../model/records.js";
import { isEnvironmentAdmin } from "../rules/decide.js";
import type { PrincipalContext } from "../store/repository.js";
import { isAppAdmin, type Capabilities, type Caller } from "./capabilities.js";

/**
 * Whether a member acts as the environment's admin: an enabled tenant user whose membership holds
 * SystemAdministrator. A user disabled in the tenant directory does nothing (sharing-rules.md), so a
 * disabled SystemAdministrator is no admin on any route, nor is a suspended one in their environment. `ctx` is the caller's context in the environment.
 */
export function isEnabledEnvironmentAdmin(ctx: Pick<PrincipalContext, "user" | "membership"> | undefined): boolean {
  return (
    ctx?.user?.enabled === true &&
    ctx.membership?.suspended !== true &&
    isEnvironmentAdmin({ securityRoles: ctx.membership?.securityRoles })
  );
}

/**
 * Whether a user takes part in the environment: a member whose membership provisioning has not
 * suspended. Callers who don't are answered as outsiders (404), whatever they hold there.
 */
export function hasActiveMembership(ctx: Pick<PrincipalContext, "membership"> | undefined): boolean {
  return ctx?.membership !== undefined && ctx.membership.suspended !== true;
}

/** Whether a caller acts as the environment's admin: an app with `Sharing.Admin`, or an enabled SystemAdministrator. */
export function actsAsEnvironmentAdmin(
  caller: Caller,
  ctx: Pick<PrincipalContext, "user" | "membership"> | undefined,
): boolean {
  return isAppAdmin(caller) || isEnabledEnvironmentAdmin(ctx);
}

/** The 403's detail where a route says nothing more specific. */
export const environmentAdminRefusal =
  "this needs the environment's SystemAdministrator role (as an enabled user) or the Sharing.Admin app role";

export interface EnvironmentAdminGate {
  /** The 403's detail, saying what the route needs; default `environmentAdminRefusal`. */
  refusal?: string;
  /** App callers that pass besides `Sharing.Admin` (audits let `Sharing.Audit` apps in: `isAppAuditor`). */
  alsoApps?: (caller: Caller) => boolean;
}

/**
 * The one environment-admin gate, for every route only environment admins may use. Apps with
 * `Sharing.Admin` (or what `gate.alsoApps` lets in) pass; a user must be an enabled member holding
 * SystemAdministrator. An unknown environment, or one the user is no member of, is 404 (environment
 * isolation: an outsider can't tell the two apart); a member who is not an enabled admin gets 403
 * with `gate.refusal`. Returns the environment, and the caller's context (undefined for an app).
 */
export async function requireEnvironmentAdmin(
  deps: Pick<Capabilities, "repo">,
  caller: Caller,
  envId: string,
  gate: EnvironmentAdminGate = {},
): Promise<{ environment: Environment; ctx: PrincipalContext | undefined }> {
  const app = isAppAdmin(caller) || (gate.alsoApps?.(caller) ?? false);
  const [environment, ctx] = await Promise.all([
    deps.repo.getEnvironment(envId),
    app ? Promise.resolve(undefined) : deps.repo.principalContext(envId, caller.principalId),
  ]);
  if (!environment || (!app && !hasActiveMembership(ctx))) throw notFound(`environment ${envId} was not found`);
  if (!app && !isEnabledEnvironmentAdmin(ctx)) throw forbidden(gate.refusal ?? environmentAdminRefusal);
  return { environment, ctx };
}
