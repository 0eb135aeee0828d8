import { z } from "zod";

/**
 * The mailer's own record of one email, keyed by its operation id (the `Operation-Id` sent to ACS).
 * Whether ACS deduplicates a repeated operation id is not documented, so this record is what makes a
 * duplicate job (a re-relayed outbox item, a redelivered or concurrently delivered queue message)
 * send nothing: `sending` claims the email for one queue message, `sent` and `failed` are final.
 */
export const emailRecordSchema = z.object({
  operationId: z.string().min(1).max(64),
  /** The job kind, for people reading the table. */
  kind: z.string().min(1).max(40),
  state: z.enum(["sending", "sent", "failed"]),
  /** The id of the queue message that claimed the email: the same on every dequeue of that message. */
  claimedBy: z.string().min(1).max(200),
  claimedAt: z.string().datetime({ offset: true }),
  sentAt: z.string().datetime({ offset: true }).optional(),
  failedReason: z.string().max(500).optional(),
});
export type EmailRecord = z.infer<typeof emailRecordSchema>;
