import { describe, expect, it, vi } from "vitest";
import { RestError } from "@azure/data-tables";
import { StorageLimitError, type StorageLimit } from "../../shared/errors.js";
import { tableLimits } from "../../shared/ports/rowLimits.js";
import type * as RowLimits from "../../shared/ports/rowLimits.js";
import type { WriteOp } from "../../shared/ports/rows.js";
import { backends, uniquePrefix } from "../support/backends.js";

// The adapters' own checks are switched off in this file, so every write reaches Azurite: what it
// refuses must come back as the same StorageLimitError the checks throw. (Not a mock of storage:
// Azurite answers every request.)
vi.mock("../../shared/ports/rowLimits.js", async (importOriginal) => ({
  ...(await importOriginal<typeof RowLimits>()),
  checkKeys: () => undefined,
  checkTransaction: () => undefined,
}));

const azurite = backends().find((b) => b.name === "azurite")!;

describe("limits refused by Azurite itself, past the adapter's checks", () => {
  const fresh = () => ({ store: azurite.make(), table: `${uniquePrefix()}Refused` });

  it("maps PropertyValueTooLarge to StorageLimitError, naming the row, for one row and inside a batch", async () => {
    const { store, table } = fresh();
    const over = "x".repeat(tableLimits.maxStringChars + 1);
    const one = await refused(store.transact(table, "p", [{ op: "insert", rk: "one", fields: { v: over } }]));
    expect([one.limit, one.table, one.pk, one.rk]).toEqual(["propertyValue", table, "p", "one"]);
    expect(one.cause).toBeInstanceOf(RestError);
    const batch = await refused(
      store.transact(table, "p", [
        { op: "insert", rk: "a", fields: { v: "1" } },
        { op: "insert", rk: "b", fields: { v: over } },
      ]),
    );
    expect([batch.limit, batch.rk]).toEqual(["propertyValue", "b"]);
    expect(await store.get(table, "p", "a")).toBeUndefined();
  });

  it("maps a duplicate row and a request body over 4 MiB to their limits", async () => {
    const { store, table } = fresh();
    const twice = await refused(
      store.transact(table, "p", [
        { op: "upsert", rk: "a", fields: { v: "1" } },
        { op: "upsert", rk: "a", fields: { v: "2" } },
      ]),
    );
    expect(twice.limit).toBe<StorageLimit>("transactionDuplicateRow");
    const rows: WriteOp[] = Array.from({ length: 100 }, (_, i) => ({
      op: "insert",
      rk: `r${i}`,
      fields: { v: "\u0001".repeat(10_000) },
    }));
    expect((await refused(store.transact(table, "p", rows))).limit).toBe<StorageLimit>("transactionSize");
    expect(await store.get(table, "p", "r0")).toBeUndefined();
  });
});

async function refused(p: Promise<unknown>): Promise<StorageLimitError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(StorageLimitError);
  return e as StorageLimitError;
}
