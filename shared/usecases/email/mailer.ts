/**
 * The mailer: turns one job of the outbound email queue into at most one email.
 *
 * ## Control flow (the same for every kind)
 * 1. Parse the message with `emailJobSchema`; a message that doesn't parse is logged and dropped
 *    (no retry can fix it, and throwing would only cycle it to the poison queue).
 * 2. Look up the job's handler in {@link emailJobHandlers} (`kinds.ts`) and let it *prepare*: read
 *    current state and either say why nothing is to be sent (`{ skip }`: superseded, already sent,
 *    revoked...) or render the email with an `operationId` that is the same for every retry of that email.
 * 3. Claim the email in its `EmailRecords` row (`sending`, by this queue message's id). A record that
 *    is `sent` or `failed`, or `sending` under another message's fresh claim, means a duplicate:
 *    nothing is sent.
 * 4. Send through the `EmailSender` port. On success the record becomes `sent` and the handler's
 *    `recordSent` runs (an invitation becomes `sent`). A permanent failure makes the record `failed`,
 *    runs `recordFailed` and returns (retrying can't help). A transient failure throws, so the
 *    Functions host redelivers the message; on its last dequeue (`maxDequeueCount`, as host.json
 *    says) the email is recorded `failed` first, and the host then moves the message to
 *    `outbound-email-poison`. Steps 3 and 4 are `delivery.ts`.
 *
 * ## Adding a kind
 * Write an `EmailJobHandler` for the kind in its own module beside the others, importing only
 * `handler.ts` of the mailer: read what the job names, render the email with a template from
 * `shared/emails/`, and return `{ envId, email, recordSent, recordFailed }` (use `emailOperationId`
 * with a name unique to that email, e.g. `copy|${copyId}`) or `{ skip: "why" }`. Then add it to
 * {@link emailJobHandlers} in `kinds.ts`, one line.
 * The claim, the sent record, retries and failure handling above are then yours for free. A kind
 * with no handler yet is not dropped: its messages fail and are kept in the poison queue.
 */
import { emailJobSchema, type EmailJob } from "../../model/emailJobs.js";
import { deliverOnce, type Delivery, type MailOutcome } from "./delivery.js";
import type { EmailJobHandlers, MailerDeps, Prepared } from "./handler.js";
import { emailJobHandlers } from "./kinds.js";

/** Handles one queue message. Throws only when the message should be delivered again (a transient failure). */
export async function handleEmailMessage(
  deps: MailerDeps,
  message: unknown,
  delivery: Delivery,
  handlers: EmailJobHandlers = emailJobHandlers,
): Promise<MailOutcome> {
  const parsed = emailJobSchema.safeParse(typeof message === "string" ? tryJson(message) : message);
  if (!parsed.success) {
    const detail = `not an email job, dropped: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(message)"}: ${i.message}`).join("; ")}`;
    deps.log(detail);
    return { result: "dropped", detail };
  }
  const job = parsed.data;
  const handler = handlerFor(handlers, job);
  if (!handler)
    throw new Error(`no mailer handler for ${job.kind} jobs yet; the message is kept (it ends in the poison queue)`);
  const prepared = await handler(deps, job);
  if ("skip" in prepared) return { result: "skipped", detail: `${job.kind}: ${prepared.skip}` };
  return deliverOnce(deps, job.kind, prepared, delivery);
}

/** The table is keyed by kind, so the handler found for a job takes that job; TypeScript can't follow the correlation. */
function handlerFor<J extends EmailJob>(
  handlers: EmailJobHandlers,
  job: J,
): ((deps: MailerDeps, job: J) => Promise<Prepared>) | undefined {
  return handlers[job.kind] as ((deps: MailerDeps, job: J) => Promise<Prepared>) | undefined;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
