import { z } from "zod";
import { customSecurityRoleSchema, idSchema, rolePrivilegesSchema, type CustomSecurityRole } from "../model/records.js";
import type { OutboxItem } from "../model/outbox.js";
import type { RowStore, WriteOp } from "../ports/rows.js";
import { keys, type TableNames } from "./keys.js";
import { decodeRow, encodeRow } from "./rowJson.js";

/** Every custom role's privileges, by role id: the environment's `rolePrivileges` row. */
export const rolePrivilegesRowSchema = z.object({ roles: z.record(idSchema, rolePrivilegesSchema) });
export type RolePrivilegesRow = z.infer<typeof rolePrivilegesRowSchema>;

/**
 * The environment's custom security roles, in its `Directory` partition: a row per role (read by the
 * role routes) and the `rolePrivileges` row that holds every role's privileges (read beside each
 * membership by `principalContext` and by membership writes). Both change in one transaction, under
 * the ETag of the `rolePrivileges` row, so they never disagree and concurrent writers can't exceed
 * the cap on the number of roles.
 */
export class SecurityRoleRows {
  constructor(
    private readonly rows: RowStore,
    private readonly tables: TableNames,
  ) {}

  /** One point read: every role's privileges, and the ETag to write them under ("new" when there are none yet). */
  async privileges(envId: string): Promise<{ row: RolePrivilegesRow; etag: string | "new" }> {
    const row = await this.rows.get(this.tables.directory, keys.directoryPk(envId), keys.rolePrivilegesRk);
    return row
      ? { row: decodeRow(rolePrivilegesRowSchema, row), etag: row.etag ?? "*" }
      : { row: { roles: {} }, etag: "new" };
  }

  async get(envId: string, roleId: string): Promise<CustomSecurityRole | undefined> {
    const row = await this.rows.get(this.tables.directory, keys.directoryPk(envId), keys.securityRoleRk(roleId));
    return row ? decodeRow(customSecurityRoleSchema, row) : undefined;
  }

  /**
   * Writes the role, its privileges in the `rolePrivileges` row (under `etag`, from `privileges`:
   * ConcurrencyError when another write came first) and `outbox` (the change log entry), in one
   * transaction.
   */
  async put(
    role: CustomSecurityRole,
    all: RolePrivilegesRow,
    etag: string | "new",
    outbox: readonly OutboxItem[],
  ): Promise<void> {
    const next: RolePrivilegesRow = { roles: { ...all.roles, [role.roleId]: role.privileges } };
    const fields = encodeRow(next);
    await this.rows.transact(this.tables.directory, keys.directoryPk(role.envId), [
      etag === "new"
        ? { op: "insert", rk: keys.rolePrivilegesRk, fields }
        : { op: "replace", rk: keys.rolePrivilegesRk, fields, etag },
      { op: "upsert", rk: keys.securityRoleRk(role.roleId), fields: encodeRow(role) },
      ...outbox.map((o): WriteOp => ({ op: "upsert", rk: keys.outboxRk(o.id), fields: encodeRow(o) })),
    ]);
  }

  /** One request: a page of the environment's roles, in id order. */
  async page(envId: string, continuation: string | undefined, pageSize: number) {
    const page = await this.rows.queryPage(
      this.tables.directory,
      keys.directoryPk(envId),
      [{ prefix: keys.securityRolePrefix }],
      { continuation, pageSize },
    );
    return {
      roles: page.rows.map((r) => decodeRow(customSecurityRoleSchema, r)),
      continuation: page.continuation,
    };
  }
}
