import { z } from "zod";
import { idSchema } from "./records.js";

/**
 * A copy of a cloud flow sent to one recipient (seed 004, "Send a copy"): an independent template
 * with its own name and description and no connections. Nothing links it back to the sender's
 * access: it can't be revoked, and the flow made from it belongs to the recipient alone.
 */
export const flowCopySchema = z.object({
  copyId: idSchema,
  envId: idSchema,
  /** The flow it was made from, for the record only: the recipient gets no access to it. */
  sourceResourceId: idSchema,
  senderId: idSchema,
  recipientId: idSchema,
  displayName: z.string().trim().min(1).max(200),
  description: z.string().max(2000).optional(),
  triggerKind: z.enum(["instant", "automated"]).optional(),
  /** The connectors the definition uses, by name only: a copy carries no connection and no credentials. */
  connectors: z.array(z.string().min(1).max(100)).max(100),
  createdAt: z.string().datetime({ offset: true }),
  /** Set once the recipient has created their flow from it. */
  instantiatedResourceId: idSchema.optional(),
  instantiatedAt: z.string().datetime({ offset: true }).optional(),
});
export type FlowCopy = z.infer<typeof flowCopySchema>;
