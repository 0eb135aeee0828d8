import type { EmailJob } from "../model/emailJobs.js";
import { renderCopyEmail } from "../emails/copy.js";
import { CopiesRepository } from "../store/copiesRepository.js";
import { emailOperationId, type MailerDeps, type Prepared } from "./mailer.js";

const join = (base: string, path: string) => `${base.replace(/\/+$/, "")}/${path}`;

/**
 * The mailer's handler for `copy` jobs: the email telling a recipient a copy of a flow was sent to
 * them. A function declaration (hoisted), so the mailer's table can name it whichever module loads first.
 */
export async function prepareCopyEmail(deps: MailerDeps, job: Extract<EmailJob, { kind: "copy" }>): Promise<Prepared> {
  const found = await new CopiesRepository(deps.repo).get(job.copyId);
  if (!found || found.copy.envId !== job.envId) return { skip: `copy ${job.copyId} no longer exists` };
  const copy = found.copy;
  const [recipient, sender] = await Promise.all([
    deps.repo.getUser(copy.recipientId),
    deps.repo.getUser(copy.senderId),
  ]);
  if (!recipient) return { skip: `recipient ${copy.recipientId} is not in the tenant directory` };
  if (!recipient.enabled) return { skip: `recipient ${copy.recipientId} is disabled` };
  const rendered = renderCopyEmail({
    senderName: sender?.displayName ?? "An administrator",
    recipientName: recipient.displayName,
    flowName: copy.displayName,
    description: copy.description,
    connectors: copy.connectors,
    sentAt: copy.createdAt,
    link: join(deps.invitations.appBaseUrl, `copies/${encodeURIComponent(copy.copyId)}`),
    apiLink: join(deps.invitations.publicBaseUrl, `api/copies/${encodeURIComponent(copy.copyId)}`),
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
}
