import { renderGrantExpiryEmail } from "../../emails/grantExpiry.js";
import { sharingPageUrl } from "../../invitations/links.js";
import type { PrincipalRef, TenantUser } from "../../model/records.js";
import { ownershipRoles } from "../../rules/matrix.js";
import { emailOperationId, type EmailJobHandler, type MailerDeps } from "./handler.js";

/**
 * A reminder before a grant expires, or the owners' note after (docs/expiry.md). A reminder whose
 * grant no longer ends then (extended, shortened, revoked) is skipped. The operation id names the
 * grant, its expiry, the step and the audience, so a job queued twice (a timer run twice, a crash
 * before the due row was removed) sends one email.
 */
export const prepareGrantExpiryEmail: EmailJobHandler<"grantExpiry"> = async (deps, job) => {
  const [env, state] = await Promise.all([
    deps.repo.getEnvironment(job.envId),
    deps.repo.resourceState(job.envId, job.resourceId),
  ]);
  if (!env) return { skip: `environment ${job.envId} no longer exists` };
  if (!state) return { skip: `resource ${job.resourceId} no longer exists` };
  const p = job.principal;
  if (job.step !== "expire") {
    const grant = state.grants.find((g) => g.principalType === p.type && g.principalId === p.id && g.role === job.role);
    if (grant?.expiresAt !== job.expiresAt) return { skip: "the grant no longer expires then" };
  }
  const ownerIds =
    job.audience === "owners"
      ? [
          ...new Set(
            state.grants
              .filter((g) => g.principalType === "user" && ownershipRoles.includes(g.role))
              .map((g) => g.principalId),
          ),
        ]
      : p.type === "user"
        ? [p.id]
        : [];
  const users = (await Promise.all(ownerIds.map((id) => deps.repo.getUser(id)))).filter(
    (u): u is TenantUser => u !== undefined && u.enabled,
  );
  if (users.length === 0) return { skip: `no enabled ${job.audience === "owners" ? "owner" : "grantee"} to email` };
  const rendered = renderGrantExpiryEmail({
    environmentName: env.displayName,
    resource: { name: state.resource.displayName, kind: state.resource.kind },
    principalLabel: await label(deps, job.envId, p),
    role: job.role,
    expiresAt: job.expiresAt,
    step: job.step,
    audience: job.audience,
    link: sharingPageUrl(deps.invitations.appBaseUrl, job.envId, job.resourceId),
  });
  const name = [job.envId, job.resourceId, p.type, p.id, job.role, job.expiresAt, job.step, job.audience].join("|");
  return {
    envId: job.envId,
    email: {
      operationId: emailOperationId(`grantExpiry|${name}`),
      to: users.map((u) => ({ address: u.email, displayName: u.displayName })),
      ...rendered,
    },
    recordSent: async () => undefined,
    recordFailed: async (reason) => deps.log(`expiry email ${name} could not be sent: ${reason}`),
  };
};

async function label(deps: MailerDeps, envId: string, p: PrincipalRef): Promise<string> {
  if (p.type === "user") {
    const user = await deps.repo.getUser(p.id);
    return user ? `${user.displayName} (${user.email})` : `user ${p.id}`;
  }
  const group = await deps.repo.getGroup(envId, p.id);
  return group ? group.group.displayName : `${p.type} ${p.id}`;
}
