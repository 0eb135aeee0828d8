import type { PrincipalRef } from "../../model/records.js";
import { renderOwnerAlertEmail } from "../../emails/ownerAlert.js";
import { sharingPageUrl } from "../../invitations/links.js";
import { emailOperationId, enabledAdmins, sharerName, type EmailJobHandler, type MailerDeps } from "./handler.js";

/** The alert to the environment's SystemAdministrators when an owner or co-owner is added in a sensitive environment. */
export const prepareOwnerAlertEmail: EmailJobHandler<"ownerAlert"> = async (deps, job) => {
  const [env, members, state, actor] = await Promise.all([
    deps.repo.getEnvironment(job.envId),
    deps.repo.environmentMembers(job.envId),
    deps.repo.resourceState(job.envId, job.resourceId),
    deps.repo.getUser(job.actorId),
  ]);
  if (!env) return { skip: `environment ${job.envId} no longer exists` };
  const admins = await enabledAdmins(deps, members);
  if (admins.length === 0) {
    deps.log(`owner alert ${job.alertId}: environment ${job.envId} has no enabled SystemAdministrator to alert`);
    return { skip: "the environment has no enabled admin to alert" };
  }
  const rendered = renderOwnerAlertEmail({
    environmentName: env.displayName,
    resource: state ? { name: state.resource.displayName, kind: state.resource.kind } : undefined,
    resourceId: job.resourceId,
    principalLabel: await principalLabel(deps, job.envId, job.principal),
    role: job.role,
    actorName: sharerName(actor),
    at: job.at,
    link: sharingPageUrl(deps.invitations.appBaseUrl, job.envId, job.resourceId),
    how: job.how,
    viaLabel: job.via ? await principalLabel(deps, job.envId, job.via) : undefined,
  });
  const noteOnly = async () => undefined;
  return {
    envId: job.envId,
    email: {
      operationId: emailOperationId(`ownerAlert|${job.alertId}`),
      to: admins.map((a) => ({ address: a.email, displayName: a.displayName })),
      ...rendered,
    },
    recordSent: noteOnly,
    recordFailed: async (reason) =>
      deps.log(`owner alert ${job.alertId} for ${job.envId}/${job.resourceId} could not be sent: ${reason}`),
  };
};

async function principalLabel(deps: MailerDeps, envId: string, p: PrincipalRef): Promise<string> {
  if (p.type === "user") {
    const user = await deps.repo.getUser(p.id);
    return user ? `${user.displayName} (${user.email}${user.userType === "guest" ? ", guest" : ""})` : `user ${p.id}`;
  }
  const group = await deps.repo.getGroup(envId, p.id);
  const what = p.type === "group" ? "security group" : "SharePoint list";
  return group ? `${group.group.displayName} (${what})` : `${what} ${p.id}`;
}
