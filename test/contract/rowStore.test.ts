import { describe, expect, it } from "vitest";
import { ConcurrencyError } from "../../shared/errors.js";
import { queryAll, type PartitionRange, type RowStore } from "../../shared/ports/rows.js";
import { backends, uniquePrefix } from "../support/backends.js";

/** The storage port's contract, run on the in-memory fake and on Azurite alike. */
describe.each(backends())("row store contract: $name", (backend) => {
  const fresh = (): { store: RowStore; table: string } => ({ store: backend.make(), table: `${uniquePrefix()}Rows` });

  it("queries a from-to range of row keys, the end excluded, beside other ranges", async () => {
    const { store, table } = fresh();
    await store.transact(
      table,
      "p",
      ["grant|group|g1|viewer", "grant|sharePointList|l1|owner", "grant|user|u1|viewer", "meta"].map((rk) => ({
        op: "upsert" as const,
        rk,
        fields: { v: rk },
      })),
    );
    const page = await store.queryPage(table, "p", [
      { eq: "meta" },
      { from: "grant|group|", to: "grant|sharePointList}" },
    ]);
    expect(page.rows.map((r) => r.rk)).toEqual(["grant|group|g1|viewer", "grant|sharePointList|l1|owner", "meta"]);
    const none = await store.queryPage(table, "p", [{ from: "grant|user|", to: "grant|user|" }]);
    expect(none.rows).toEqual([]);
  });

  it("reads back what a transaction wrote, with an ETag, and nothing for a missing row", async () => {
    const { store, table } = fresh();
    expect(await store.get(table, "p", "missing")).toBeUndefined();
    const etags = await store.transact(table, "p", [
      { op: "insert", rk: "a", fields: { json: '{"x":1}', n: 3, b: true } },
    ]);
    const row = await store.get(table, "p", "a");
    expect(row?.fields).toEqual({ json: '{"x":1}', n: 3, b: true });
    expect(row?.etag).toBe(etags.get("a"));
  });

  it("answers a one-row write of each kind with the ETag the row now has", async () => {
    const { store, table } = fresh();
    const inserted = (await store.transact(table, "p", [{ op: "insert", rk: "a", fields: { v: "1" } }])).get("a");
    expect(inserted).toBe((await store.get(table, "p", "a"))?.etag);
    const upserted = (await store.transact(table, "p", [{ op: "upsert", rk: "a", fields: { v: "2" } }])).get("a");
    expect(upserted).toBe((await store.get(table, "p", "a"))?.etag);
    expect(upserted).not.toBe(inserted);
    const replaced = (
      await store.transact(table, "p", [{ op: "replace", rk: "a", fields: { v: "3" }, etag: upserted! }])
    ).get("a");
    expect(replaced).toBe((await store.get(table, "p", "a"))?.etag);
    await expect(
      store.transact(table, "p", [{ op: "replace", rk: "a", fields: { v: "4" }, etag: upserted! }]),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(store.transact(table, "p", [{ op: "insert", rk: "a", fields: { v: "5" } }])).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    await expect(
      store.transact(table, "p", [{ op: "replace", rk: "missing", fields: { v: "6" }, etag: "*" }]),
    ).rejects.toBeInstanceOf(ConcurrencyError);
  });

  it("applies a transaction all or nothing: a duplicate insert rolls back the other writes", async () => {
    const { store, table } = fresh();
    await store.transact(table, "p", [{ op: "insert", rk: "a", fields: { v: "1" } }]);
    await expect(
      store.transact(table, "p", [
        { op: "upsert", rk: "b", fields: { v: "2" } },
        { op: "insert", rk: "a", fields: { v: "3" } },
      ]),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await store.get(table, "p", "b")).toBeUndefined();
    expect((await store.get(table, "p", "a"))?.fields.v).toBe("1");
  });

  it("replaces only under the current ETag, and deletes in the same transaction", async () => {
    const { store, table } = fresh();
    const first = await store.transact(table, "p", [
      { op: "insert", rk: "meta", fields: { v: "1" } },
      { op: "insert", rk: "g", fields: { v: "1" } },
    ]);
    const etag = first.get("meta")!;
    await store.transact(table, "p", [
      { op: "replace", rk: "meta", fields: { v: "2" }, etag },
      { op: "delete", rk: "g" },
    ]);
    expect(await store.get(table, "p", "g")).toBeUndefined();
    await expect(
      store.transact(table, "p", [{ op: "replace", rk: "meta", fields: { v: "3" }, etag }]),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await store.get(table, "p", "meta"))?.fields.v).toBe("2");
  });

  it("fails a transaction that deletes a missing row, whole", async () => {
    const { store, table } = fresh();
    await store.transact(table, "p", [{ op: "insert", rk: "a", fields: { v: "1" } }]);
    await expect(
      store.transact(table, "p", [
        { op: "delete", rk: "a" },
        { op: "delete", rk: "missing" },
      ]),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await store.get(table, "p", "a"))?.fields.v).toBe("1");
  });

  it("deletes one row under an ETag, and ignores a missing row", async () => {
    const { store, table } = fresh();
    const e = await store.transact(table, "p", [{ op: "insert", rk: "a", fields: { v: "1" } }]);
    await store.transact(table, "p", [{ op: "upsert", rk: "a", fields: { v: "2" } }]);
    await expect(store.delete(table, "p", "a", e.get("a"))).rejects.toBeInstanceOf(ConcurrencyError);
    await store.delete(table, "p", "a");
    expect(await store.get(table, "p", "a")).toBeUndefined();
    await store.delete(table, "p", "a");
  });

  it("queries row key ranges of one partition in key order, page by page", async () => {
    const { store, table } = fresh();
    await store.transact(table, "p", [
      { op: "insert", rk: "grant|a", fields: { v: "1" } },
      { op: "insert", rk: "grant|b", fields: { v: "2" } },
      { op: "insert", rk: "grant|c", fields: { v: "3" } },
      { op: "insert", rk: "grant}", fields: { v: "x" } },
      { op: "insert", rk: "meta", fields: { v: "m" } },
      { op: "insert", rk: "other", fields: { v: "o" } },
    ]);
    await store.transact(table, "q", [{ op: "insert", rk: "grant|z", fields: { v: "q" } }]);
    const rks: string[] = [];
    let continuation: string | undefined;
    let pages = 0;
    do {
      const page = await store.queryPage(table, "p", [{ eq: "meta" }, { prefix: "grant|" }], {
        continuation,
        pageSize: 2,
      });
      rks.push(...page.rows.map((r) => r.rk));
      continuation = page.continuation;
      pages++;
    } while (continuation);
    expect(rks).toEqual(["grant|a", "grant|b", "grant|c", "meta"]);
    expect(pages).toBeGreaterThanOrEqual(2);
    expect((await queryAll(store, table, "p", [{ all: true }])).length).toBe(6);
  });

  it("scans a row key prefix across partitions", async () => {
    const { store, table } = fresh();
    await store.transact(table, "p1", [
      { op: "insert", rk: "outbox|1", fields: { v: "1" } },
      { op: "insert", rk: "meta", fields: { v: "m" } },
    ]);
    await store.transact(table, "p2", [{ op: "insert", rk: "outbox|2", fields: { v: "2" } }]);
    const found: string[] = [];
    for await (const page of store.scanPages(table, "outbox|")) found.push(...page.map((r) => `${r.pk}/${r.rk}`));
    expect(found.sort()).toEqual(["p1/outbox|1", "p2/outbox|2"]);
  });

  /** Every page of a range scan, following continuations through short and empty pages. */
  const scanAll = async (store: RowStore, table: string, partitions: PartitionRange, pageSize?: number) => {
    const rows: string[] = [];
    let continuation: string | undefined;
    let pages = 0;
    do {
      const page = await store.scanRange(table, partitions, [{ eq: "meta" }, { prefix: "grant|" }], {
        continuation,
        ...(pageSize ? { pageSize } : {}),
      });
      rows.push(...page.rows.map((r) => `${r.pk}/${r.rk}`));
      continuation = page.continuation;
      pages++;
    } while (continuation);
    return { rows, pages };
  };

  it("scans a partition key range in (partition, row) order, only the row key ranges asked, page by page", async () => {
    const { store, table } = fresh();
    const resource = (pk: string) =>
      store.transact(table, pk, [
        { op: "insert", rk: "change|1", fields: { v: "c" } },
        { op: "insert", rk: "grant|u1", fields: { v: "g" } },
        { op: "insert", rk: "grant|u2", fields: { v: "g" } },
        { op: "insert", rk: "meta", fields: { v: "m" } },
        { op: "insert", rk: "outbox|1", fields: { v: "o" } },
      ]);
    // env1's neighbours in key order: a longer id with env1 as its prefix, a key without the separator, env2.
    for (const pk of ["env0|z", "env1", "env1|a", "env1|b", "env1|c", "env10|a", "env1}", "env2|a"]) await resource(pk);
    const expected = ["env1|a", "env1|b", "env1|c"].flatMap((pk) => [`${pk}/grant|u1`, `${pk}/grant|u2`, `${pk}/meta`]);
    const whole = await scanAll(store, table, { pkPrefix: "env1|" });
    expect(whole.rows).toEqual(expected);
    const paged = await scanAll(store, table, { pkPrefix: "env1|" }, 2);
    expect(paged.rows).toEqual(expected);
    expect(paged.pages).toBeGreaterThanOrEqual(5);
    // Resuming at a partition: that partition and the ones after it, and nothing outside the prefix.
    expect((await scanAll(store, table, { pkPrefix: "env1|", fromPk: "env1|b" }, 2)).rows).toEqual(expected.slice(3));
    expect((await scanAll(store, table, { pkPrefix: "env1|", fromPk: "env1}" })).rows).toEqual([]);
    expect((await scanAll(store, table, { pkPrefix: "env1|", fromPk: "env0" })).rows).toEqual(expected);
    expect((await scanAll(store, table, { pkPrefix: "nothing|" })).rows).toEqual([]);
    expect(
      (await store.scanRange(table, { pkPrefix: "env10|" }, [{ all: true }])).rows.map((r) => r.rk).sort(),
    ).toEqual(["change|1", "grant|u1", "grant|u2", "meta", "outbox|1"]);
  });

  it("keeps a range scan with quotes in its prefix inside that prefix, and refuses a token it never gave", async () => {
    const { store, table } = fresh();
    const hostile = "x' or PartitionKey ne '|";
    await store.transact(table, "victim|1", [{ op: "insert", rk: "meta", fields: { v: "s" } }]);
    await store.transact(table, `${hostile}1`, [{ op: "insert", rk: "meta", fields: { v: "h" } }]);
    expect((await scanAll(store, table, { pkPrefix: hostile })).rows).toEqual([`${hostile}1/meta`]);
    await expect(
      store.scanRange(table, { pkPrefix: "victim|" }, [{ all: true }], { continuation: "not-a-token" }),
    ).rejects.toMatchObject({ code: "invalidInput" });
  });

  it("keeps keys with quotes and OData words inside their own partition", async () => {
    const { store, table } = fresh();
    const hostile = "x' or PartitionKey ne '";
    await store.transact(table, "victim", [{ op: "insert", rk: "secret", fields: { v: "s" } }]);
    await store.transact(table, hostile, [{ op: "insert", rk: "a'b", fields: { v: "h" } }]);
    const rows = await queryAll(store, table, hostile, [{ eq: "a'b" }, { prefix: "secret" }]);
    expect(rows.map((r) => `${r.pk}/${r.rk}`)).toEqual([`${hostile}/a'b`]);
  });

  it("refuses transactions over 100 operations or naming a row twice", async () => {
    const { store, table } = fresh();
    const ops = Array.from({ length: 101 }, (_, i) => ({ op: "upsert" as const, rk: `r${i}`, fields: { v: "1" } }));
    await expect(store.transact(table, "p", ops)).rejects.toThrow();
    await expect(
      store.transact(table, "p", [
        { op: "upsert", rk: "a", fields: { v: "1" } },
        { op: "upsert", rk: "a", fields: { v: "2" } },
      ]),
    ).rejects.toThrow();
    expect(await store.get(table, "p", "a")).toBeUndefined();
  });
});
