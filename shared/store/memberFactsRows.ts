import { ConcurrencyError } from "../errors.js";
import { directoryMemberSchema, sameFacts, type MemberFacts } from "../model/memberFacts.js";
import type { RowStore } from "../ports/rows.js";
import { keys, type TableNames } from "./keys.js";
import { decodeRow, encodeRow } from "./rowJson.js";

/** `env|{envId}|member`: the envId is the key's middle part (ids hold no `|`). */
const memberRowKey = /^env\|([^|]+)\|member$/;

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
   * The environments the user is a member of, from the `env|{envId}|member` rows of their partition.
   * Those rows sit among the user's index rows, which the query pages through: a profile change is
   * rare, and this is the one place that knows the user's environments.
   */
  async environmentsOf(userId: string): Promise<string[]> {
    const envIds: string[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.rows.queryPage(
        this.tables.principals,
        keys.principalPk({ type: "user", id: userId }),
        [{ prefix: "env|" }],
        { continuation },
      );
      for (const row of page.rows) {
        const envId = memberRowKey.exec(row.rk)?.[1];
        if (envId !== undefined) envIds.push(envId);
      }
      continuation = page.continuation;
    } while (continuation);
    return envIds;
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
