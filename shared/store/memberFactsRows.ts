import { ConcurrencyError } from "../errors.js";
import { directoryMemberSchema, sameFacts, type MemberFacts } from "../model/memberFacts.js";
import { queryAll, type RowStore } from "../ports/rows.js";
import { keys, type TableNames } from "./keys.js";
import { decodeRow, encodeRow } from "./rowJson.js";

/**
 * The member facts (enabled, guest or member) kept on each environment's `member|{userId}` row, as
 * the relay brings them in line with the user's profile. `putMembership` writes them with the
 * membership; the audit reads them by range (`AuditReads`).
 */
export class MemberFactsRows {
  constructor(
    private readonly rows: RowStore,
    private readonly tables: TableNames,
  ) {}

  /**
   * The environments the user is a member of, from the `envs|{envId}` rows of their partition: one
   * range, as many rows as memberships (not the user's index rows, which sit under `env|`).
   */
  async environmentsOf(userId: string): Promise<string[]> {
    const rows = await queryAll(this.rows, this.tables.principals, keys.principalPk({ type: "user", id: userId }), [
      { prefix: keys.memberOfPrefix },
    ]);
    return rows.map((r) => r.rk.slice(keys.memberOfPrefix.length));
  }

  /**
   * Puts the facts on the user's member row of one environment (read, then replaced under its ETag
   * so a membership written meanwhile is kept). Nothing when the user is no member there.
   */
  async set(envId: string, userId: string, facts: MemberFacts): Promise<void> {
    const pk = keys.directoryPk(envId);
    const rk = keys.envMemberRk(userId);
    for (let tries = 1; ; tries++) {
      const row = await this.rows.get(this.tables.directory, pk, rk);
      if (!row) return;
      const member = decodeRow(directoryMemberSchema, row);
      if (member.facts && sameFacts(member.facts, facts)) return;
      try {
        await this.rows.transact(this.tables.directory, pk, [
          { op: "replace", rk, fields: encodeRow({ ...member, facts }), etag: row.etag ?? "*" },
        ]);
        return;
      } catch (e) {
        if (!(e instanceof ConcurrencyError) || tries >= 5) throw e;
      }
    }
  }
}
