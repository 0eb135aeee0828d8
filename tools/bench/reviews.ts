/**
 * Access review snapshots (docs/reviews.md): environments whose scope holds 10,000 and 100,000
 * grants on the in-memory store, and 1,000 and 3,000 on Azurite (see `sizes`), seeded straight into
 * storage with batched transactions (`seedAuditWorld`), each snapshotted by `runSnapshot` to its end.
 * Prints items snapshotted a second, rows written and storage requests per item,
 * and the ratio of the per-item time at the large size to the small: about 1 when the cost of an
 * item does not grow with the size of the review.
 */
import type { Azurite } from "../azurite.js";
import { MemoryRowStore } from "../../shared/adapters/memory/memoryRowStore.js";
import { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import type { ReviewDefinition } from "../../shared/model/reviews.js";
import type { RowStore, WriteOp } from "../../shared/ports/rows.js";
import { tableNames } from "../../shared/store/keys.js";
import { newReviewInstance } from "../../shared/usecases/reviews/start.js";
import { runSnapshot } from "../../shared/usecases/reviews/snapshot.js";
import { config, elapsed, log } from "./config.js";
import { capabilities } from "./setup.js";
import { seedAuditWorld } from "./world.js";

const num = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

/**
 * The sizes run on each store. The in-memory store measures the snapshot's own work (rows, requests,
 * CPU) at 10,000 and 100,000 grants; Azurite, whose writes into one partition slow with the
 * partition's size (docs/reviews.md, "Measured"), at sizes it finishes in a bench run. Either list
 * may be set (comma-separated) or emptied.
 */
const sizes = (name: string, fallback: string) =>
  (process.env[name] ?? fallback)
    .split(",")
    .map((v) => Number(v.trim()))
    .filter((v) => Number.isFinite(v) && v > 0);
type StoreKind = "memory" | "azurite";

export interface ReviewBenchResult {
  grants: number;
  items: number;
  seconds: number;
  itemsPerSecond: number;
  rowsPerItem: number;
  requestsPerItem: number;
  msPerItem: number;
  calls: number;
}

/** A row store that counts requests and the rows written to one table, around another store. */
function counting(store: RowStore, table: string) {
  const counts = { rows: 0, requests: 0 };
  const wrapped: RowStore = {
    get: (...a) => (counts.requests++, store.get(...a)),
    queryPage: (...a) => (counts.requests++, store.queryPage(...a)),
    scanRange: (...a) => (counts.requests++, store.scanRange(...a)),
    scanPages: (...a) => store.scanPages(...a),
    transact: (t: string, pk: string, ops: readonly WriteOp[]) => {
      counts.requests++;
      if (t === table) counts.rows += ops.length;
      return store.transact(t, pk, ops);
    },
    delete: (...a) => (counts.requests++, store.delete(...a)),
    ping: () => store.ping(),
  };
  return { wrapped, counts };
}

async function snapshotOnce(azurite: Azurite, grants: number, storeKind: StoreKind): Promise<ReviewBenchResult> {
  const conn = azurite.connectionString;
  const tables = tableNames(`benchreview${storeKind === "memory" ? "m" : "a"}${grants}`);
  // Azurite answers a batch into one large partition slowly (docs/reviews.md, "Measured"): a longer
  // timeout than the service's 5 s keeps the bench measuring instead of failing.
  const store: RowStore =
    storeKind === "memory"
      ? new MemoryRowStore()
      : new AzureRowStore({ connectionString: conn, requestTimeoutMs: 120_000 });
  const envId = `reviewenv${grants}`;
  const grantsPerResource = num("BENCH_REVIEW_GRANTS_PER_RESOURCE", 10);
  log(`[${elapsed()}] reviews (${storeKind}): seeding ${grants} grants (${grantsPerResource} a resource)…`);
  const world = await seedAuditWorld(store, tables, envId, {
    grants,
    grantsPerResource,
    users: config.auditUsers,
    concurrency: 8,
  });
  log(`[${elapsed()}] reviews: seeded in ${(world.seedMs / 1000).toFixed(1)} s; snapshotting…`);
  const { wrapped, counts } = counting(store, tables.reviews);
  const caps = capabilities(wrapped, tables, conn);
  const now = new Date();
  const definition: ReviewDefinition = {
    reviewId: "bench",
    envId,
    displayName: "Bench review",
    scope: {},
    reviewers: "owners",
    durationDays: 14,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    updatedBy: "bench",
  };
  await caps.reviews.putDefinition(definition, undefined);
  const instanceId = "i1";
  await caps.reviews.createInstance(newReviewInstance(definition, instanceId, "request", "bench", now));
  counts.rows = 0;
  counts.requests = 0;
  const started = performance.now();
  let calls = 0;
  let phase = "snapshot";
  let items = 0;
  // As the request and then the runner timer would: one budget a call, each resuming at the cursor.
  while (phase === "snapshot") {
    const run = await runSnapshot(caps, envId, "bench", instanceId, { budgetMs: 20_000 });
    calls++;
    phase = run?.phase ?? "gone";
    items = run?.counts.items ?? 0;
  }
  const seconds = (performance.now() - started) / 1000;
  const result: ReviewBenchResult = {
    grants,
    items,
    seconds: +seconds.toFixed(1),
    itemsPerSecond: Math.round(items / seconds),
    rowsPerItem: +(counts.rows / items).toFixed(2),
    requestsPerItem: +(counts.requests / items).toFixed(3),
    msPerItem: +((seconds * 1000) / items).toFixed(3),
    calls,
  };
  log(
    `[${elapsed()}] reviews: ${items} items in ${result.seconds} s (${calls} calls of 20 s): ${result.itemsPerSecond} items/s, ` +
      `${result.rowsPerItem} rows and ${result.requestsPerItem} requests an item`,
  );
  return result;
}

export async function measureReviews(azurite: Azurite): Promise<Record<StoreKind, ReviewBenchResult[]>> {
  const runs: Record<StoreKind, ReviewBenchResult[]> = { memory: [], azurite: [] };
  for (const grants of sizes("BENCH_REVIEW_MEMORY_SIZES", "10000,100000"))
    runs.memory.push(await snapshotOnce(azurite, grants, "memory"));
  for (const grants of sizes("BENCH_REVIEW_AZURITE_SIZES", "1000,3000"))
    runs.azurite.push(await snapshotOnce(azurite, grants, "azurite"));
  const lines = [""];
  for (const kind of ["memory", "azurite"] as const) {
    const rs = runs[kind];
    if (rs.length === 0) continue;
    lines.push(
      `Access review snapshot (runSnapshot to the end, ${kind} store):`,
      `  grants   items    seconds  items/s  rows/item  requests/item  ms/item  calls`,
      ...rs.map(
        (r) =>
          `  ${String(r.grants).padEnd(8)} ${String(r.items).padEnd(8)} ${String(r.seconds).padEnd(8)} ${String(r.itemsPerSecond).padEnd(8)} ` +
          `${String(r.rowsPerItem).padEnd(10)} ${String(r.requestsPerItem).padEnd(14)} ${String(r.msPerItem).padEnd(8)} ${r.calls}`,
      ),
    );
    const [small, large] = [rs[0]!, rs[rs.length - 1]!];
    if (rs.length > 1)
      lines.push(
        `  per-item time at ${large.grants} vs ${small.grants}: ${(large.msPerItem / small.msPerItem).toFixed(2)}× (1 = the cost of an item does not grow with the review)`,
      );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  return runs;
}
