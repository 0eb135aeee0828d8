/**
 * `npm run bench`: how close the service comes to the storage it stands on. Starts Azurite (in
 * memory, loopback), seeds data through the use cases, and measures each operation against the raw
 * storage operation it is built on, interleaved one by one in the same run, so every figure is a
 * ratio of two medians taken under the same load. Prints a table and writes
 * tools/bench/results/latest.json.
 *
 * Knobs (environment, see config.ts): BENCH_ITERATIONS (per-operation samples, default 300),
 * BENCH_AUDIT_GRANTS (default 100000), BENCH_AUDIT_REPS (default 2), BENCH_DECISION_ROUND_MS
 * (default 1500), BENCH_SECTIONS (default reads,writes,scale,webhooks,expiry,reviews,decisions,audit), the scale
 * section's BENCH_SCALE_* and the webhooks section's BENCH_WEBHOOK_SAMPLES (see config.ts).
 *
 * The sections: reads.ts, writes.ts, scale.ts (big groups and resources, through HTTP on the whole
 * app), webhooks.ts (a share with and without webhook subscriptions, through HTTP), expiry.ts (a
 * check on grants with expiries against the same without), reviews.ts (an access review's snapshot
 * at 10,000 and 100,000 grants on the in-memory store and at 1,000 and 3,000 on Azurite:
 * BENCH_REVIEW_MEMORY_SIZES, BENCH_REVIEW_AZURITE_SIZES), casbin.ts (the
 * decision step), audit.ts; setup.ts holds what they measure with, report.ts
 * what they report.
 */
import { createRequire } from "node:module";
import { cpus, loadavg, totalmem } from "node:os";
import { TableClient } from "@azure/data-tables";
import { startAzurite } from "../azurite.js";
import { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import { tableNames } from "../../shared/store/keys.js";
import { measureAudit } from "./audit.js";
import { compareDecisions, type DecisionComparison } from "./casbin.js";
import { config, elapsed, log } from "./config.js";
import { RequestMeter } from "./meter.js";
import { measureReads } from "./reads.js";
import { measureScale } from "./scale.js";
import { measureWebhooks } from "./webhooks.js";
import { measureExpiry } from "./expiry.js";
import { measureReviews } from "./reviews.js";
import { report, type AuditResult, type HostOverhead, type Machine } from "./report.js";
import { capabilities, startLocalHost, type BenchHost } from "./setup.js";
import { seedSmallWorld } from "./world.js";
import { measureWrites } from "./writes.js";

async function main(): Promise<void> {
  const azuriteVersion = (createRequire(import.meta.url)("azurite/package.json") as { version: string }).version;
  const machine: Machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    azurite: azuriteVersion,
    loadAverageAtStart: loadavg().map((v) => +v.toFixed(2)),
  };
  log(
    `bench: ${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, Azurite ${machine.azurite}, load average ${machine.loadAverageAtStart.join(" ")}`,
  );

  const azurite = await startAzurite();
  let bench: BenchHost | undefined;
  try {
    const conn = azurite.connectionString;
    const tables = tableNames(config.prefix);
    const meter = new RequestMeter();
    const timed = capabilities(new AzureRowStore({ connectionString: conn }), tables, conn);
    const counted = capabilities(
      new AzureRowStore({ connectionString: conn, onRequest: meter.onRequest, onResponse: meter.onResponse }),
      tables,
      conn,
    );
    const raw = (table: string) => TableClient.fromConnectionString(conn, table, { allowInsecureConnection: true });

    let hostOverhead: HostOverhead | undefined;
    if (config.sections.has("reads") || config.sections.has("writes")) {
      log(`[${elapsed()}] seeding the per-operation world through the use cases…`);
      const world = await seedSmallWorld(timed, "benchenv");
      if (config.sections.has("reads")) {
        bench = await startLocalHost(conn);
        log(`[${elapsed()}] local host on ${bench.host.url}`);
        hostOverhead = await measureReads(
          world,
          timed,
          counted,
          meter,
          raw(tables.resources),
          raw(tables.principals),
          raw(tables.directory),
          bench,
        );
        await bench.close();
        bench = undefined;
      }
      if (config.sections.has("writes"))
        await measureWrites(
          world,
          timed,
          counted,
          meter,
          raw(tables.resources),
          raw(tables.principals),
          raw(tables.environments),
          raw(tables.directory),
        );
    }

    if (config.sections.has("scale")) await measureScale(azurite);

    if (config.sections.has("webhooks")) await measureWebhooks(azurite);

    if (config.sections.has("expiry")) await measureExpiry(azurite, meter);

    if (config.sections.has("reviews")) await measureReviews(azurite);

    let decisions: DecisionComparison | undefined;
    if (config.sections.has("decisions")) {
      log(`[${elapsed()}] decision step: decide() against casbin…`);
      decisions = await compareDecisions(
        { resources: 1_000, users: 400, groups: 30, admins: 5, grantsPerResource: 8, questions: 20_000 },
        { rounds: 3, roundMs: config.decisionRoundMs, verifySample: 5_000, log },
      );
    }

    let audit: AuditResult | undefined;
    if (config.sections.has("audit")) {
      log(`[${elapsed()}] audit: seeding ${config.auditGrants} grants…`);
      audit = await measureAudit(azurite, meter);
    }

    report({ machine, loadAverageAtEnd: loadavg().map((v) => +v.toFixed(2)), hostOverhead, decisions, audit });
  } finally {
    await bench?.close().catch(() => undefined);
    await azurite.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exitCode = 1;
});
