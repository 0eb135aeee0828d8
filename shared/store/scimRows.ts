import { createHash } from "node:crypto";
import type { z } from "zod";
import {
  scimGroupRecordSchema,
  scimLookupSchema,
  scimUserRecordSchema,
  type ScimGroupRecord,
  type ScimUserRecord,
} from "../model/scim.js";
import type { RowStore } from "../ports/rows.js";
import { keys, type TableNames } from "./keys.js";
import { decodeRow, encodeRow } from "./rowJson.js";

type Kind = "user" | "group";

/** `externalId` is case-exact (RFC 7643 §3.1): the digest is of the value as sent. */
const digest = (value: string) => createHash("sha256").update(value, "utf8").digest("hex");

/**
 * Provisioning's rows in the environment's `Directory` partition: per user and per group what the
 * client sent beside our own records, and `externalId` lookups. A lookup is a hint: the record it
 * points to is read and compared, so one left behind by a crash or a rename finds nothing.
 */
export class ScimRows {
  constructor(
    private readonly rows: RowStore,
    private readonly tables: TableNames,
  ) {}

  async getUser(envId: string, userId: string): Promise<ScimUserRecord | undefined> {
    return this.read(envId, keys.scimUserRk(userId), scimUserRecordSchema);
  }

  async getGroup(envId: string, groupId: string): Promise<ScimGroupRecord | undefined> {
    return this.read(envId, keys.scimGroupRk(groupId), scimGroupRecordSchema);
  }

  /**
   * Writes the record and its lookup in one transaction (the same partition), and removes the
   * lookup of an `externalId` the record no longer holds.
   */
  async putUser(envId: string, record: ScimUserRecord, previous: ScimUserRecord | undefined): Promise<void> {
    await this.put(envId, "user", keys.scimUserRk(record.userId), record.userId, record, previous);
  }

  async putGroup(envId: string, record: ScimGroupRecord, previous: ScimGroupRecord | undefined): Promise<void> {
    await this.put(envId, "group", keys.scimGroupRk(record.groupId), record.groupId, record, previous);
  }

  async deleteUser(envId: string, userId: string): Promise<void> {
    await this.remove(envId, "user", keys.scimUserRk(userId), await this.getUser(envId, userId));
  }

  async deleteGroup(envId: string, groupId: string): Promise<void> {
    await this.remove(envId, "group", keys.scimGroupRk(groupId), await this.getGroup(envId, groupId));
  }

  /** The id whose record holds this `externalId` now, if any (one point read; the caller reads the record). */
  async idByExternalId(envId: string, type: Kind, externalId: string): Promise<string | undefined> {
    const found = await this.read(envId, keys.scimExternalIdRk(type, digest(externalId)), scimLookupSchema);
    return found && found.value === externalId ? found.id : undefined;
  }

  private async read<T>(envId: string, rk: string, schema: z.ZodType<T>): Promise<T | undefined> {
    const row = await this.rows.get(this.tables.directory, keys.directoryPk(envId), rk);
    return row ? decodeRow(schema, row) : undefined;
  }

  private async put(
    envId: string,
    type: Kind,
    rk: string,
    id: string,
    record: { externalId?: string | undefined },
    previous: { externalId?: string | undefined } | undefined,
  ): Promise<void> {
    const ops: Parameters<RowStore["transact"]>[2][number][] = [{ op: "upsert", rk, fields: encodeRow(record) }];
    if (record.externalId !== undefined)
      ops.push({
        op: "upsert",
        rk: keys.scimExternalIdRk(type, digest(record.externalId)),
        fields: encodeRow({ id, value: record.externalId }),
      });
    await this.rows.transact(this.tables.directory, keys.directoryPk(envId), ops);
    if (previous?.externalId !== undefined && previous.externalId !== record.externalId)
      await this.dropLookup(envId, type, id, previous.externalId);
  }

  private async remove(
    envId: string,
    type: Kind,
    rk: string,
    previous: { externalId?: string | undefined } | undefined,
  ): Promise<void> {
    if (!previous) return;
    const id = rk.slice(rk.lastIndexOf("|") + 1);
    if (previous.externalId !== undefined) await this.dropLookup(envId, type, id, previous.externalId);
    await this.rows.delete(this.tables.directory, keys.directoryPk(envId), rk);
  }

  /** Deletes a lookup row only while it still points to this id: another resource may hold the value now. */
  private async dropLookup(envId: string, type: Kind, id: string, externalId: string): Promise<void> {
    const rk = keys.scimExternalIdRk(type, digest(externalId));
    const row = await this.rows.get(this.tables.directory, keys.directoryPk(envId), rk);
    if (!row || decodeRow(scimLookupSchema, row).id !== id) return;
    await this.rows.delete(this.tables.directory, keys.directoryPk(envId), rk);
  }
}
