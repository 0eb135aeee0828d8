import { renderNewOwnerEmail } from "../../emails/newOwner.js";
import { sharingPageUrl } from "../../invitations/links.js";
import { emailOperationId, type EmailJobHandler } from "./handler.js";

/**
 * The email to a resource's new primary owner after an offboarding. Skipped when the resource is
 * gone or has changed owner again since (a later reassignment tells its own story); the operation id
 * names the run and the resource, so a retried or re-sent job sends nothing twice.
 */
export const prepareNewOwnerEmail: EmailJobHandler<"newOwner"> = async (deps, job) => {
  const [env, state, to, from] = await Promise.all([
    deps.repo.getEnvironment(job.envId),
    deps.repo.resourceState(job.envId, job.resourceId),
    deps.repo.getUser(job.toUserId),
    deps.repo.getUser(job.fromUserId),
  ]);
  if (!env) return { skip: `environment ${job.envId} no longer exists` };
  if (!state) return { skip: `resource ${job.resourceId} no longer exists` };
  if (state.resource.ownerId !== job.toUserId) return { skip: `${job.toUserId} is no longer its primary owner` };
  if (!to || !to.enabled) return { skip: `the new owner ${job.toUserId} is not an enabled user` };
  const r = state.resource;
  const rendered = renderNewOwnerEmail({
    environmentName: env.displayName,
    resource: { name: r.displayName, kind: r.kind },
    previousOwnerName: from?.displayName ?? job.fromUserId,
    link: sharingPageUrl(deps.invitations.appBaseUrl, job.envId, job.resourceId),
    connectionsToFix: (r.kind === "cloudFlow" ? (r.connections ?? []) : [])
      .filter((c) => c.usage === "embedded" && c.ownerId === job.fromUserId)
      .map((c) => ({ id: c.id, connector: c.connector })),
  });
  const noteOnly = async () => undefined;
  return {
    envId: job.envId,
    email: {
      operationId: emailOperationId(`newOwner|${job.envId}|${job.offboardingId}|${job.resourceId}`),
      to: [{ address: to.email, displayName: to.displayName }],
      ...rendered,
    },
    recordSent: noteOnly,
    recordFailed: async (reason) =>
      deps.log(
        `new-owner email of ${job.envId}/${job.resourceId} (offboarding ${job.offboardingId}) could not be sent: ${reason}`,
      ),
  };
};
