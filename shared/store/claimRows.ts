import { claimDueSchema, claimSchema, type Claim, type ClaimDue } from "../model/claims.js";
import { keys } from "./keys.js";
import type { SharingRepository } from "./repository.js";
import { decodeRow, encodeRow } from "./rowJson.js";

/**
 * Where claims live (docs/claims.md). The claim itself is the `claim` row of the resource's own
 * partition (written by `SharingRepository.commit` with `putClaim`, in the resource's transaction).
 * Its deadline is a row of the `claims|due` partition of the Offboardings table, keyed by deadline
 * first, so the escalation timer reads only claims that are due, never a tenant's resources.
 */
export const claimKeys = {
  claimRk: "claim",
  duePk: "claims|due",
  dueRk: (d: ClaimDue) => `${d.deadline}|${d.envId}|${d.resourceId}|${d.claimId}`,
};

export class ClaimRows {
  constructor(private readonly repo: SharingRepository) {}

  /** The resource's current claim (one point read). */
  async get(envId: string, resourceId: string): Promise<Claim | undefined> {
    const row = await this.repo.rows.get(
      this.repo.tables.resources,
      keys.resourcePk(envId, resourceId),
      claimKeys.claimRk,
    );
    return row ? decodeRow(claimSchema, row) : undefined;
  }

  /**
   * The deadline row, written before the claim's own transaction: a row whose claim never
   * committed is found at its deadline, matches no claim, and is deleted then.
   */
  async putDue(due: ClaimDue): Promise<void> {
    await this.repo.rows.transact(this.repo.tables.offboardings, claimKeys.duePk, [
      { op: "upsert", rk: claimKeys.dueRk(due), fields: encodeRow(due) },
    ]);
  }

  /** Deadline rows due at `now` (deadline ≤ now), oldest first, one page. */
  async duePage(
    now: Date,
    pageSize: number,
    continuation?: string,
  ): Promise<{ due: ClaimDue[]; continuation?: string }> {
    // ISO times of one format sort as text; everything up to `now` and its row suffix is due.
    const page = await this.repo.rows.queryPage(
      this.repo.tables.offboardings,
      claimKeys.duePk,
      [{ from: "0", to: `${now.toISOString()}|~` }],
      { continuation, pageSize },
    );
    return {
      due: page.rows.map((r) => decodeRow(claimDueSchema, r)),
      ...(page.continuation ? { continuation: page.continuation } : {}),
    };
  }

  async deleteDue(due: ClaimDue): Promise<void> {
    await this.repo.rows.delete(this.repo.tables.offboardings, claimKeys.duePk, claimKeys.dueRk(due));
  }
}
