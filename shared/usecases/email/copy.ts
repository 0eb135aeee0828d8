import { renderCopyEmail } from "../../emails/copy.js";
import { emailOperationId, joinUrl, sharerName, type EmailJobHandler } from "./handler.js";

/** The mailer's handler for `copy` jobs: the email telling a recipient a copy of a flow was sent to them. */
export const prepareCopyEmail: EmailJobHandler<"copy"> = async (deps, job) => {
  const found = await deps.copies.get(job.copyId);
  if (!found || found.copy.envId !== job.envId) return { skip: `copy ${job.copyId} no longer exists` };
  const copy = found.copy;
  const [recipient, sender] = await Promise.all([
    deps.repo.getUser(copy.recipientId),
    deps.repo.getUser(copy.senderId),
  ]);
  if (!recipient) return { skip: `recipient ${copy.recipientId} is not in the tenant directory` };
  if (!recipient.enabled) return { skip: `recipient ${copy.recipientId} is disabled` };
  const rendered = renderCopyEmail({
    senderName: sharerName(sender),
    recipientName: recipient.displayName,
    flowName: copy.displayName,
    description: copy.description,
    connectors: copy.connectors,
    sentAt: copy.createdAt,
    link: joinUrl(deps.invitations.appBaseUrl, `copies/${encodeURIComponent(copy.copyId)}`),
    apiLink: joinUrl(deps.invitations.publicBaseUrl, `api/copies/${encodeURIComponent(copy.copyId)}`),
  });
  return {
    envId: copy.envId,
    email: {
      operationId: emailOperationId(`copy|${copy.copyId}`),
      to: [{ address: recipient.email, displayName: recipient.displayName }],
      ...rendered,
    },
    recordSent: async () => undefined,
    recordFailed: async (reason) =>
      deps.log(`the email about copy ${copy.copyId} to ${copy.recipientId} could not be sent: ${reason}`),
  };
};
