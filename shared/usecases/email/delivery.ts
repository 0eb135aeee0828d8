/**
 * Sends one prepared email at most once, whatever its kind: the claim in its {@link EmailRecords}
 * row, the send through the `EmailSender` port, and the sent or failed record (see the control flow
 * at the top of `mailer.ts`).
 */
import { appContract } from "../../appContract.js";
import { EmailSendError } from "../../ports/email.js";
import type { EmailRecord } from "../../model/emailRecords.js";
import type { MailerDeps, Prepared } from "./handler.js";

/** The queue delivery being handled (`context.triggerMetadata`). */
export interface Delivery {
  /** The queue message's id: the same on every dequeue of one message, different for a duplicate message. */
  messageId: string | undefined;
  /** 1 on the first delivery. */
  dequeueCount: number;
}

/** host.json `extensions.queues.maxDequeueCount`: the dequeue after which the host moves a failing message to the poison queue. */
export const maxDequeueCount: number = appContract.maxDequeueCount;

/**
 * How long a `sending` claim keeps other queue messages for the same email away. Longer than one
 * send can take (the ACS adapter gives up after 30 s); a claimer that crashed gets its own message
 * back (same id) and carries on, so this only matters when the claiming message itself is gone.
 */
export const claimTtlMs = 5 * 60_000;

/** The outcome of one delivery, for the log. */
export interface MailOutcome {
  result: "sent" | "skipped" | "failed" | "dropped";
  detail: string;
}

/** Claims, sends and records one email. Throws only when the message should be delivered again. */
export async function deliverOnce(
  deps: MailerDeps,
  kind: string,
  p: Exclude<Prepared, { skip: string }>,
  delivery: Delivery,
): Promise<MailOutcome> {
  const records = deps.emailRecords;
  const operationId = p.email.operationId;
  const me = delivery.messageId ?? `unknown-${operationId}`;
  let etag: string | undefined;
  for (let tries = 0; etag === undefined; tries++) {
    if (tries >= 5) throw new Error(`email ${operationId}: its record kept changing; trying again later`);
    const current = await records.get(p.envId, operationId);
    const r = current?.record;
    if (r?.state === "sent") {
      // A crash after the send left the handler's own record behind; bring it in line.
      await p.recordSent(new Date(r.sentAt ?? r.claimedAt));
      return { result: "skipped", detail: `${kind}: email ${operationId} was already sent` };
    }
    if (r?.state === "failed") {
      await p.recordFailed(r.failedReason ?? "the email could not be sent");
      return { result: "skipped", detail: `${kind}: email ${operationId} already failed` };
    }
    const now = deps.clock();
    if (
      r?.state === "sending" &&
      r.claimedBy !== me &&
      delivery.messageId !== undefined &&
      now.getTime() - Date.parse(r.claimedAt) < claimTtlMs
    ) {
      // Another message is sending it and stays on the queue until it has; this one is a duplicate.
      return { result: "skipped", detail: `${kind}: email ${operationId} is being sent by message ${r.claimedBy}` };
    }
    const claim: EmailRecord = { operationId, kind, state: "sending", claimedBy: me, claimedAt: now.toISOString() };
    etag = await records.put(p.envId, claim, current ? current.etag : "new");
  }

  const final = delivery.dequeueCount >= maxDequeueCount;
  const fail = async (reason: string) => {
    const failedReason = reason.slice(0, 500);
    await records.put(
      p.envId,
      { operationId, kind, state: "failed", claimedBy: me, claimedAt: deps.clock().toISOString(), failedReason },
      etag,
    );
    await p.recordFailed(failedReason);
  };
  try {
    await deps.sender.send(p.email);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    if (e instanceof EmailSendError && e.code === "permanent") {
      await fail(reason);
      return { result: "failed", detail: `${kind}: email ${operationId} failed for good: ${reason}` };
    }
    if (final) {
      await fail(`gave up after ${delivery.dequeueCount} attempts: ${reason}`).catch((err: unknown) =>
        deps.log(
          `email ${operationId}: recording the failure failed: ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
    }
    throw e;
  }
  const sentAt = deps.clock();
  // Written without condition: the email went out, whatever claimed it meanwhile.
  await records.put(
    p.envId,
    { operationId, kind, state: "sent", claimedBy: me, claimedAt: sentAt.toISOString(), sentAt: sentAt.toISOString() },
    "*",
  );
  await p.recordSent(sentAt);
  return { result: "sent", detail: `${kind}: email ${operationId} sent to ${p.email.to.length} recipient(s)` };
}
