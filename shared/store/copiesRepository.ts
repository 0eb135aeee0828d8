import { z } from "zod";
import { ConcurrencyError } from "../errors.js";
import { idSchema } from "../model/records.js";
import type { SharingRepository } from "./repository.js";
import { decodeRow, encodeRow } from "./rowJson.js";

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

/** Layout of the Copies table: one partition per copy, so `GET /api/copies/{id}` is one point read. */
const copyKeys = {
  pk: (copyId: string) => copyId,
  rk: "copy",
};

/** Storage of copies, on the repository's row store and table names. */
export class CopiesRepository {
  constructor(private readonly repo: SharingRepository) {}

  private get table(): string {
    return this.repo.tables.copies;
  }

  async get(copyId: string): Promise<{ copy: FlowCopy; etag: string } | undefined> {
    const row = await this.repo.rows.get(this.table, copyKeys.pk(copyId), copyKeys.rk);
    return row ? { copy: decodeRow(flowCopySchema, row), etag: row.etag ?? "*" } : undefined;
  }

  /** Inserts a new copy; its id is fresh, so an existing row means a bug, not a race. */
  async insert(copy: FlowCopy): Promise<void> {
    await this.repo.rows.transact(this.table, copyKeys.pk(copy.copyId), [
      { op: "insert", rk: copyKeys.rk, fields: encodeRow(copy) },
    ]);
  }

  /** Records the flow made from the copy; true when written, false when the copy changed meanwhile. */
  async replace(copy: FlowCopy, etag: string): Promise<boolean> {
    try {
      await this.repo.rows.transact(this.table, copyKeys.pk(copy.copyId), [
        { op: "replace", rk: copyKeys.rk, fields: encodeRow(copy), etag },
      ]);
      return true;
    } catch (e) {
      if (e instanceof ConcurrencyError) return false;
      throw e;
    }
  }
}
