/**
 * The audit of many grants (100,000 by default) against a raw scan of the same rows and against the
 * audit's own requests sent raw.
 */
import { TableClient } from "@azure/data-tables";
import { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import { keys, tableNames } from "../../shared/store/keys.js";
import { requestAudit } from "../../shared/usecases/audits/request.js";
import type { Azurite } from "../azurite.js";
import { config, elapsed, log } from "./config.js";
import { formatCounts, type RequestMeter } from "./meter.js";
import { addRow, requestCounts, type AuditResult } from "./report.js";
import { capabilities, firstPageLength, q } from "./setup.js";
import { summarize } from "./stats.js";
import { appAdmin, forEachLimit, seedAuditWorld } from "./world.js";

export async function measureAudit(azurite: Azurite, meter: RequestMeter): Promise<AuditResult> {
  const conn = azurite.connectionString;
  const tables = tableNames(config.auditPrefix);
  const store = new AzureRowStore({ connectionString: conn });
  const envId = "auditenv";
  const world = await seedAuditWorld(store, tables, envId, {
    grants: config.auditGrants,
    grantsPerResource: config.auditGrantsPerResource,
    users: config.auditUsers,
    concurrency: 8,
  });
  log(
    `[${elapsed()}] audit world seeded in ${(world.seedMs / 1000).toFixed(1)} s; ${config.auditReps} rounds of raw scan and audit…`,
  );
  const caps = capabilities(
    new AzureRowStore({ connectionString: conn, onRequest: meter.onRequest, onResponse: meter.onResponse }),
    tables,
    conn,
  );
  const rawResources = TableClient.fromConnectionString(conn, tables.resources, { allowInsecureConnection: true });

  const rawScan = async () => {
    let n = 0;
    let pages = 0;
    for await (const page of rawResources.listEntities().byPage({ maxPageSize: 1000 })) {
      n += page.length;
      pages++;
    }
    if (n !== world.rowsInResourcesTable)
      throw new Error(`raw scan read ${n} rows, expected ${world.rowsInResourcesTable}`);
    return pages;
  };
  // The audit's own requests, raw: each resource's partition (meta + grants) and each user's
  // partition (profile, membership, groups), 8 in flight, as the audit sends them.
  const rawPrincipals = TableClient.fromConnectionString(conn, tables.principals, { allowInsecureConnection: true });
  const memberOf = keys.memberOfPrefix(envId);
  const ownRequests = async (): Promise<{ resourcesMs: number; usersMs: number }> => {
    let rowsRead = 0;
    const t0 = performance.now();
    const resourceIds = Array.from({ length: world.resources }, (_, r) => `res-${r.toString().padStart(6, "0")}`);
    await forEachLimit(resourceIds, 8, async (id) => {
      const n = await firstPageLength(
        rawResources,
        `PartitionKey eq ${q(keys.resourcePk(envId, id))} and (RowKey eq 'meta' or (RowKey ge 'grant|' and RowKey lt 'grant}'))`,
      );
      rowsRead += n;
    });
    const resourcesMs = performance.now() - t0;
    const userIds = Array.from({ length: world.users }, (_, n) => `a${n.toString().padStart(6, "0")}`);
    await forEachLimit(userIds, 8, async (id) => {
      const pk = keys.principalPk({ type: "user", id });
      const n = await firstPageLength(
        rawPrincipals,
        `PartitionKey eq ${q(pk)} and (RowKey eq 'profile' or RowKey eq ${q(keys.memberRk(envId))} or (RowKey ge ${q(memberOf)} and RowKey lt ${q(memberOf.slice(0, -1) + "}")}))`,
      );
      rowsRead += n;
    });
    if (rowsRead !== world.rowsInResourcesTable + 2 * world.users)
      throw new Error(`the audit's requests, raw, read ${rowsRead} rows`);
    return { resourcesMs, usersMs: performance.now() - t0 - resourcesMs };
  };
  const ownParts: { resourcesMs: number; usersMs: number }[] = [];
  const scans: number[] = [];
  const owns: number[] = [];
  const audits: number[] = [];
  const runs: unknown[] = [];
  for (let rep = 0; rep < config.auditReps; rep++) {
    const t0 = performance.now();
    const pages = await rawScan();
    scans.push(performance.now() - t0);
    log(`  [${elapsed()}] raw scan ${rep + 1}: ${(scans.at(-1)! / 1000).toFixed(1)} s, ${pages} pages`);
    // The audit's own requests once (they take as long as the audit): enough to split its time.
    if (rep === 0) {
      const t2 = performance.now();
      ownParts.push(await ownRequests());
      owns.push(performance.now() - t2);
      log(`  [${elapsed()}] the audit's requests, raw: ${(owns.at(-1)! / 1000).toFixed(1)} s`);
    }
    meter.start();
    const t1 = performance.now();
    const { auditId, status } = await requestAudit(caps, appAdmin, envId, {
      budgetMs: 30 * 60_000,
      progress: () => undefined,
    });
    audits.push(performance.now() - t1);
    const counts = meter.stop();
    const got = await caps.repo.rows.get(tables.audits, `${envId}|${auditId}`, "run");
    const run = got
      ? (JSON.parse(String(got.fields.json)) as {
          status: string;
          stats: { resources: number; grants: number; findings: number; byRule: Record<string, number> };
        })
      : undefined;
    if (status !== "done" || run?.stats.grants !== world.grants)
      throw new Error(`the audit ended ${status} with stats ${JSON.stringify(run?.stats)}`);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    runs.push({ auditId, ms: audits.at(-1), stats: run.stats, requests: total, breakdown: Object.fromEntries(counts) });
    if (rep === 0)
      requestCounts.push({
        operation: `audit of ${world.grants} grants (${world.resources} resources, ${world.users} users)`,
        requests: total,
        breakdown: formatCounts(counts, 1),
      });
    log(
      `  [${elapsed()}] audit ${rep + 1}: ${(audits.at(-1)! / 1000).toFixed(1)} s, ${total} requests, ${run.stats.findings} findings`,
    );
  }
  const scan = summarize(scans);
  const audit = summarize(audits);
  const own = summarize(owns);
  const runsLabel = config.auditReps === 1 ? "1 run" : `${config.auditReps} runs, p99 = slowest`;
  addRow(
    `audit of ${world.grants.toLocaleString("en")} grants (${runsLabel})`,
    audit,
    { name: `raw scan of the ${world.rowsInResourcesTable.toLocaleString("en")} rows`, s: scan },
    1.5,
  );
  addRow(
    `  … the audit ÷ its own requests, raw (1 run)`,
    { ...audit, median: audits[0]!, p99: audits[0]! },
    { name: `${world.resources + world.users} partition queries, 8 at a time`, s: own },
    undefined,
    "the audit's own overhead over its requests",
  );
  addRow(
    `  … its own requests, raw ÷ the raw scan`,
    own,
    { name: "raw scan, same round", s: summarize([scans[0]!]) },
    undefined,
    "the access pattern's cost on Azurite",
  );
  return {
    world,
    runs,
    notes: [
      `raw scan: every row of the audit's Resources table (meta and grant rows), 1,000 a page; ${scans.map((v) => (v / 1000).toFixed(1)).join(" s, ")} s`,
      `the audit's own requests, raw (${world.resources} resource partitions, then ${world.users} user partitions, 8 in flight): ${owns.map((v) => (v / 1000).toFixed(1)).join(" s, ")} s; ` +
        ownParts
          .map(
            (p) =>
              `resource partitions ${(p.resourcesMs / 1000).toFixed(1)} s (${(p.resourcesMs / world.resources).toFixed(1)} ms each), user partitions ${(p.usersMs / 1000).toFixed(1)} s (${(p.usersMs / world.users).toFixed(1)} ms each)`,
          )
          .join("; "),
      `raw scan: ${(scan.median / Math.ceil(world.rowsInResourcesTable / 1000)).toFixed(0)} ms a page of 1,000 rows`,
      `audit (the issue-4 use case requestAudit → runAudit, catalog pages of 200, 8 resources at a time): ${audits.map((v) => (v / 1000).toFixed(1)).join(" s, ")} s`,
    ],
  };
}
