import { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import type { WriteOp } from "../../shared/ports/rows.js";

/**
 * The host's own Azurite storage, failing like a crash once `crashAfter` resource changes (a meta
 * row replaced together with a change log row) have been written: for runs that must resume.
 */
export class CrashingAzureStore extends AzureRowStore {
  crashAfter = Infinity;
  /** Resource changes written so far. */
  changes = 0;
  override async transact(table: string, pk: string, ops: readonly WriteOp[]) {
    if (
      table.endsWith("Resources") &&
      ops.some((o) => o.op === "replace" && o.rk === "meta") &&
      ops.some((o) => o.rk.startsWith("change|"))
    ) {
      if (this.changes >= this.crashAfter) throw new Error("injected crash");
      this.changes++;
    }
    return super.transact(table, pk, ops);
  }
}
