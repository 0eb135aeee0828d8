/**
 * The audit of many grants (100,000 by default) against a raw scan of the same rows (the
 * environment's resource partitions and the member and `ug|` rows of its directory partition) and
 * against the audit's own requests sent raw.
 */
import { TableClient } from "@azure/data-tables";
import { prefixEnd } from "../../shared/ports/rows.js";
import { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import { keys, tableNames } from "../../shared/store/keys.js";
import { requestAudit } from "../../shared/usecases/audits/request.js";
import type { Azurite } from "../azurite.js";
import { config, elapsed, log } from "./config.js";
import { formatCounts, type RequestMeter } from "./meter.js";
import { addRow, requestCounts, type AuditResult } from "./report.js";
import { capabilities, q } from "./setup.js";
import { summarize } from "./stats.js";
import { appAdmin, seedAuditWorld } from "./world.js";

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
  const rawDirectory = TableClient.fromConnectionString(conn, tables.directory, { allowInsecureConnection: true });
  const range = (field: string, prefix: string) => `${field} ge ${q(prefix)} and ${field} lt ${q(prefixEnd(prefix))}`;
  const resourcePartitions = range("PartitionKey", keys.resourcesPrefix(envId));
  // The member rows of the environment's directory partition, and the `ug|` rows of its membership buckets.
  const memberRows = `PartitionKey eq ${q(keys.directoryPk(envId))} and ${range("RowKey", keys.envMemberPrefix)}`;
  const groupRows = `${range("PartitionKey", keys.memberBucketPrefix(envId))} and ${range("RowKey", keys.userGroupsPrefix)}`;
  const listDirectory = async () => {
    const [members, groups] = await Promise.all([listAll(rawDirectory, memberRows), listAll(rawDirectory, groupRows)]);
    return { rows: members.rows + groups.rows, pages: members.pages + groups.pages };
  };
  const rowsNeeded = world.rowsInResourcesTable + world.directoryRowsRead;
  /** Every page of a filtered listing, 1,000 rows a page, one request at a time: rows and pages. */
  const listAll = async (client: TableClient, filter: string) => {
    let rows = 0;
    let pages = 0;
    for await (const page of client.listEntities({ queryOptions: { filter } }).byPage({ maxPageSize: 1000 })) {
      rows += page.length;
      pages++;
    }
    return { rows, pages };
  };

  // The raw scan: the rows the audit needs, read as plainly as they can be: every row of the
  // environment's resource partitions (meta and grants, here nothing else) and the member and
  // group-membership rows of its directory partition.
  const rawScan = async () => {
    const directory = await listDirectory();
    const resources = await listAll(rawResources, resourcePartitions);
    if (directory.rows + resources.rows !== rowsNeeded)
      throw new Error(`raw scan read ${directory.rows + resources.rows} rows, expected ${rowsNeeded}`);
    return directory.pages + resources.pages;
  };
  // The audit's own requests, raw: the directory partition's two row ranges, then the resources
  // range restricted to meta and grant rows, a page at a time, as `AuditReads` sends them.
  const ownRequests = async (): Promise<{ directoryMs: number; resourcesMs: number; pages: number }> => {
    const t0 = performance.now();
    const directory = await listDirectory();
    const directoryMs = performance.now() - t0;
    const resources = await listAll(
      rawResources,
      `${resourcePartitions} and (RowKey eq ${q(keys.metaRk)} or (${range("RowKey", keys.grantPrefix)}))`,
    );
    if (directory.rows + resources.rows !== rowsNeeded)
      throw new Error(`the audit's requests, raw, read ${directory.rows + resources.rows} rows`);
    return { directoryMs, resourcesMs: performance.now() - t0 - directoryMs, pages: directory.pages + resources.pages };
  };
  const ownParts: { directoryMs: number; resourcesMs: number; pages: number }[] = [];
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
        operation: `audit of ${world.grants} grants (${world.resources} resources, ${world.users} users in ${world.groups} groups)`,
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
    { name: `raw scan of the same ${rowsNeeded.toLocaleString("en")} rows, 1,000 a page`, s: scan },
    1.5,
  );
  addRow(
    `  … the audit ÷ its own requests, raw (1 run)`,
    { ...audit, median: audits[0]!, p99: audits[0]! },
    { name: `${ownParts[0]?.pages ?? 0} range pages, one at a time`, s: own },
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
      `raw scan: the ${world.rowsInResourcesTable.toLocaleString("en")} rows of the environment's resource partitions (PartitionKey range) and the ${world.directoryRowsRead.toLocaleString("en")} member rows of its directory partition and ug| rows of its membership buckets, 1,000 a page; ${scans.map((v) => (v / 1000).toFixed(1)).join(" s, ")} s`,
      `the audit's own requests, raw (the directory partition's member| and ug| ranges, then the resources range with its meta and grant| row ranges, a page at a time): ${owns.map((v) => (v / 1000).toFixed(1)).join(" s, ")} s; ` +
        ownParts
          .map(
            (p) =>
              `${p.pages} pages: directory ${(p.directoryMs / 1000).toFixed(2)} s, resources ${(p.resourcesMs / 1000).toFixed(1)} s`,
          )
          .join("; "),
      `raw scan: ${(scan.median / Math.ceil(rowsNeeded / 1000)).toFixed(0)} ms a page of 1,000 rows`,
      `audit (requestAudit → runAudit: the directory partition by range, then the resources range 1,000 rows a page, each page's findings and run row written before the next page): ${audits.map((v) => (v / 1000).toFixed(1)).join(" s, ")} s`,
    ],
  };
}
