import { RestError } from "@azure/data-tables";
import { describe, expect, it } from "vitest";
import { MemoryRowStore } from "../../shared/adapters/memory/memoryRowStore.js";
import type { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import { StorageLimitError, type StorageLimit } from "../../shared/errors.js";
import { entityBytes, tableLimits, transactionBytes } from "../../shared/ports/rowLimits.js";
import { queryAll, type Row, type RowStore, type WriteOp } from "../../shared/ports/rows.js";
import { backends, uniquePrefix, type Backend } from "../support/backends.js";

/**
 * The limits of Azure Table Storage, held by the storage port on the fake and on Azurite alike: what
 * is just inside a limit is stored and read back, what is just outside is refused with
 * StorageLimitError before anything is sent, and nothing of a refused transaction is written.
 */
describe.each(backends())("row store limits: $name", (backend) => {
  const fresh = () => ({ ...counting(backend), table: `${uniquePrefix()}Limits` });

  it("stores a 32,768-character string property and refuses 32,769", async () => {
    const { store, table, sent } = fresh();
    const most = "x".repeat(tableLimits.maxStringChars);
    await store.transact(table, "p", [{ op: "insert", rk: "most", fields: { v: most } }]);
    expect((await store.get(table, "p", "most"))?.fields.v).toBe(most);

    const before = sent();
    const e = await refused(
      store.transact(table, "p", [{ op: "insert", rk: "over", fields: { v: `${most}x` } }]),
      "propertyValue",
    );
    expect([e.table, e.pk, e.rk, e.property]).toEqual([table, "p", "over", "v"]);
    expect(sent()).toBe(before);
    expect(await store.get(table, "p", "over")).toBeUndefined();
  });

  it("stores an entity of exactly 1 MiB by the documented size and refuses one character more", async () => {
    const { store, table, sent } = fresh();
    const largest = fillEntity("p", "big", tableLimits.maxEntityBytes);
    expect(entityBytes("p", "big", largest)).toBeLessThanOrEqual(tableLimits.maxEntityBytes);
    expect(entityBytes("p", "big", largest)).toBeGreaterThan(tableLimits.maxEntityBytes - 2);
    await store.transact(table, "p", [{ op: "upsert", rk: "big", fields: largest }]);
    expect((await store.get(table, "p", "big"))?.fields).toEqual(largest);

    const partial = Object.keys(largest).find((k) => String(largest[k]).length < tableLimits.maxStringChars)!;
    const tooBig = { ...largest, [partial]: `${String(largest[partial])}y` };
    const before = sent();
    await refused(store.transact(table, "p", [{ op: "upsert", rk: "big2", fields: tooBig }]), "entitySize");
    await refused(
      store.transact(table, "p", [
        { op: "upsert", rk: "small", fields: { v: "1" } },
        { op: "upsert", rk: "big3", fields: tooBig },
      ]),
      "entitySize",
    );
    expect(sent()).toBe(before);
    expect((await queryAll(store, table, "p", [{ all: true }])).map((r) => r.rk)).toEqual(["big"]);
  });

  it("stores 252 properties of its own and refuses 253", async () => {
    const { store, table, sent } = fresh();
    const fields = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, i % 2 ? i : "x"]));
    await store.transact(table, "p", [{ op: "insert", rk: "most", fields: fields(tableLimits.maxUserProperties) }]);
    expect((await store.get(table, "p", "most"))?.fields).toEqual(fields(252));
    const before = sent();
    await refused(store.transact(table, "p", [{ op: "insert", rk: "over", fields: fields(253) }]), "propertyCount");
    expect(sent()).toBe(before);
    expect(await store.get(table, "p", "over")).toBeUndefined();
  });

  it("refuses property names Azure Tables doesn't take or keeps for itself", async () => {
    const { store, table, sent } = fresh();
    for (const name of ["a-b", "1a", "a.b", "", "PartitionKey", "rowKey", "timestamp", "etag", "x".repeat(256)]) {
      await refused(store.transact(table, "p", [{ op: "insert", rk: "r", fields: { [name]: "v" } }]), "propertyName");
    }
    expect(sent()).toBe(0);
  });

  it("stores keys of 512 characters and refuses 513, in writes, reads and deletes", async () => {
    const { store, table, sent } = fresh();
    const most = "k".repeat(tableLimits.maxKeyChars);
    await store.transact(table, most, [{ op: "insert", rk: most, fields: { v: "1" } }]);
    expect((await store.get(table, most, most))?.fields.v).toBe("1");
    const over = `${most}k`;
    const before = sent();
    await refused(store.transact(table, over, [{ op: "insert", rk: "r", fields: { v: "1" } }]), "keyLength");
    await refused(store.transact(table, "p", [{ op: "upsert", rk: over, fields: { v: "1" } }]), "keyLength");
    await refused(store.transact(table, most, [{ op: "delete", rk: over }]), "keyLength");
    await refused(store.get(table, most, over), "keyLength");
    await refused(store.delete(table, over, most), "keyLength");
    expect(sent()).toBe(before);
    await store.delete(table, most, most);
    expect(await store.get(table, most, most)).toBeUndefined();
  });

  it("refuses every forbidden character in a partition key and in a row key, and stores their neighbours", async () => {
    const { store, table, sent } = fresh();
    const forbidden = ["/", "\\", "#", "?", "\ud800", "\udc00"];
    for (let c = 0x00; c <= 0x1f; c++) forbidden.push(String.fromCharCode(c));
    for (let c = 0x7f; c <= 0x9f; c++) forbidden.push(String.fromCharCode(c));
    for (const ch of forbidden) {
      await refused(store.transact(table, `a${ch}b`, [{ op: "insert", rk: "r", fields: { v: "1" } }]), "keyCharacter");
      await refused(store.transact(table, "p", [{ op: "insert", rk: `a${ch}b`, fields: { v: "1" } }]), "keyCharacter");
    }
    expect(sent()).toBe(0);
    expect(await queryAll(store, table, "p", [{ all: true }])).toEqual([]);
    // (Not U+2028 or U+2029: Azurite answers 500 to a batch holding either, anywhere in it.)
    const allowed = [" ", "|", "'", "%", "\u00a0", "\ud83d\ude00", "~", "\u4e2d"];
    await store.transact(
      table,
      `a${allowed.join("")}b`,
      allowed.map((ch, i) => ({ op: "insert", rk: `a${ch}${i}`, fields: { v: ch } })),
    );
    const rows = await queryAll(store, table, `a${allowed.join("")}b`, [{ all: true }]);
    expect(rows.map((r) => r.fields.v).sort()).toEqual([...allowed].sort());
  });

  it("commits 100 operations in one transaction and refuses 101 or a row named twice, writing nothing", async () => {
    const { store, table, sent } = fresh();
    const ops = (n: number, prefix: string): WriteOp[] =>
      Array.from({ length: n }, (_, i) => ({ op: "insert", rk: `${prefix}${i}`, fields: { v: i } }));
    await store.transact(table, "p", ops(tableLimits.maxTransactionOperations, "a"));
    expect(await queryAll(store, table, "p", [{ prefix: "a" }])).toHaveLength(100);
    const before = sent();
    await refused(store.transact(table, "p", ops(101, "b")), "transactionOperations");
    const twice = await refused(
      store.transact(table, "p", [
        { op: "insert", rk: "c", fields: { v: 1 } },
        { op: "delete", rk: "a0" },
        { op: "upsert", rk: "c", fields: { v: 2 } },
      ]),
      "transactionDuplicateRow",
    );
    expect(twice.rk).toBe("c");
    expect(sent()).toBe(before);
    expect(await queryAll(store, table, "p", [{ prefix: "b" }])).toEqual([]);
    expect(await store.get(table, "p", "c")).toBeUndefined();
    expect(await store.get(table, "p", "a0")).toBeDefined();
  });

  it("refuses a transaction of 4 MiB or more and stores the same rows in smaller ones", async () => {
    const { store, table, sent } = fresh();
    // 100 rows of 45 KiB each (one property of 23,000 characters, under the 32,768 of a property).
    const rows: WriteOp[] = Array.from({ length: 100 }, (_, i) => ({
      op: "insert",
      rk: `r${String(i).padStart(3, "0")}`,
      fields: { v: String(i % 10).repeat(23_000) },
    }));
    expect(transactionBytes("p", rows)).toBeGreaterThan(tableLimits.maxTransactionBytes);
    const before = sent();
    await refused(store.transact(table, "p", rows), "transactionSize");
    expect(sent()).toBe(before);
    expect(await queryAll(store, table, "p", [{ all: true }])).toEqual([]);

    for (let i = 0; i < rows.length; i += 50) await store.transact(table, "p", rows.slice(i, i + 50));
    const stored = await queryAll(store, table, "p", [{ all: true }]);
    expect(stored.map((r) => r.rk)).toEqual(rows.map((r) => r.rk));
    expect(stored.every((r, i) => r.fields.v === String(i % 10).repeat(23_000))).toBe(true);
  });

  it("counts a transaction's bytes on the wire too: control characters take 6 bytes there, 2 by the formula", async () => {
    const { store, table, sent } = fresh();
    // 100 × 10,000 control characters: 2 MB by the documented formula, 6 MB of JSON in the request.
    const rows = controlCharacterRows();
    await refused(store.transact(table, "p", rows), "transactionSize");
    expect(sent()).toBe(0);
    expect(await queryAll(store, table, "p", [{ all: true }])).toEqual([]);
  });

  it.runIf(backend.name === "azurite")(
    "agrees with Azurite, which answers PropertyValueTooLarge over 32,768 characters and 413 to the wire-size batch",
    async () => {
      const store = backend.make();
      const table = `${uniquePrefix()}Raw`;
      // The adapter's own client, used directly: no check of ours runs before these requests.
      const raw = await (store as AzureRowStore).ensureTable(table);
      await raw.createEntity({ partitionKey: "p", rowKey: "most", v: "x".repeat(tableLimits.maxStringChars) });
      const single = await rawError(
        raw.createEntity({ partitionKey: "p", rowKey: "over", v: "x".repeat(tableLimits.maxStringChars + 1) }),
      );
      expect([single.statusCode, (single.details as { errorCode?: string }).errorCode]).toEqual([
        400,
        "PropertyValueTooLarge",
      ]);
      const batch = await rawError(
        raw.submitTransaction([
          ["create", { partitionKey: "p", rowKey: "a", v: "1" }],
          ["create", { partitionKey: "p", rowKey: "b", v: "x".repeat(tableLimits.maxStringChars + 1) }],
        ]),
      );
      expect([batch.statusCode, batch.code]).toEqual([400, "PropertyValueTooLarge"]);
      const wire = await rawError(
        raw.submitTransaction(
          controlCharacterRows().map((o) => ["create", { partitionKey: "p", rowKey: o.rk, ...fieldsOf(o) }]),
        ),
      );
      expect([wire.statusCode, wire.code]).toEqual([413, "RequestBodyTooLarge"]);
      expect((await queryAll(store, table, "p", [{ all: true }])).map((r) => r.rk)).toEqual(["most"]);
    },
  );
});

/** A store and how many requests it has sent: HTTP requests to Azurite, or calls the fake counts as requests. */
function counting(backend: Backend): { store: RowStore; sent: () => number } {
  let http = 0;
  const store = backend.name === "memory" ? backend.make() : backend.make(() => http++);
  return { store, sent: () => (store instanceof MemoryRowStore ? store.requests : http) };
}

async function refused(p: Promise<unknown>, limit: StorageLimit): Promise<StorageLimitError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(StorageLimitError);
  expect((e as StorageLimitError).limit).toBe(limit);
  return e as StorageLimitError;
}

async function rawError(p: Promise<unknown>): Promise<RestError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RestError);
  return e as RestError;
}

/** Properties of up to 32,768 characters that bring the entity to at most `bytes`, within one character (2 bytes). */
function fillEntity(pk: string, rk: string, bytes: number): Row["fields"] {
  const names = Array.from({ length: 40 }, (_, i) => `f${String(i).padStart(2, "0")}`);
  let room = Math.floor((bytes - entityBytes(pk, rk, Object.fromEntries(names.map((n) => [n, ""])))) / 2);
  const fields: Row["fields"] = {};
  for (const name of names) {
    const n = Math.min(room, tableLimits.maxStringChars);
    fields[name] = "y".repeat(n);
    room -= n;
  }
  return fields;
}

function controlCharacterRows(): WriteOp[] {
  return Array.from({ length: 100 }, (_, i) => ({ op: "insert", rk: `r${i}`, fields: { v: "\u0001".repeat(10_000) } }));
}

function fieldsOf(o: WriteOp): Row["fields"] {
  return o.op === "delete" ? {} : o.fields;
}
