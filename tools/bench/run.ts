/**
 * `npm run bench`: how close the service comes to the storage it stands on. Starts Azurite (in
 * memory, loopback), seeds data through the use cases, and measures each operation against the raw
 * storage operation it is built on, interleaved one by one in the same run, so every figure is a
 * ratio of two medians taken under the same load. Prints a table and writes
 * bench/results/latest.json.
 *
 * Knobs (environment): BENCH_ITERATIONS (per-operation samples, default 300), BENCH_AUDIT_GRANTS
 * (default 100000), BENCH_AUDIT_REPS (default 2), BENCH_DECISION_ROUND_MS (default 1500).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { TableClient, type TableEntity, type TransactionAction } from "@azure/data-tables";
import { startAzurite, type Azurite } from "../azurite.js";
import { startHost, type LocalHost } from "../host/index.js";
import { findProjectRoot } from "../settings.js";
import { signDevToken } from "../../shared/adapters/http/devToken.js";
import { StorageEmailQueue } from "../../shared/adapters/queues/storageEmailQueue.js";
import { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import { emailQueueName } from "../../shared/model/emailJobs.js";
import type { RowStore } from "../../shared/ports/rows.js";
import type { ResourceKind, Role } from "../../shared/rules/matrix.js";
import { keys, tableNames, type TableNames } from "../../shared/store/keys.js";
import { SharingRepository, type ResourceChange } from "../../shared/store/repository.js";
import { check } from "../../shared/usecases/access.js";
import { requestAudit } from "../../shared/usecases/audits.js";
import { sortableId, type Capabilities } from "../../shared/usecases/capabilities.js";
import { principalResources } from "../../shared/usecases/resources.js";
import { revoke, share } from "../../shared/usecases/sharing.js";
import { compareDecisions, type DecisionComparison } from "./casbin.js";
import { formatCounts, RequestMeter } from "./meter.js";
import { interleave, ms, summarize, type Summary } from "./stats.js";
import {
  appAdmin,
  as,
  forEachLimit,
  seedAuditWorld,
  seedSmallWorld,
  type AuditWorld,
  type SmallWorld,
} from "./world.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = findProjectRoot(here);
const num = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? "");
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const config = {
  iterations: num("BENCH_ITERATIONS", 300),
  warmup: num("BENCH_WARMUP", 30),
  auditGrants: num("BENCH_AUDIT_GRANTS", 100_000),
  auditGrantsPerResource: num("BENCH_AUDIT_GRANTS_PER_RESOURCE", 100),
  auditUsers: num("BENCH_AUDIT_USERS", 2_000),
  auditReps: num("BENCH_AUDIT_REPS", 2),
  decisionRoundMs: num("BENCH_DECISION_ROUND_MS", 1_500),
  prefix: "bench",
  auditPrefix: "benchaudit",
  /** Comma-separated subset of reads,writes,decisions,audit (default: all). */
  sections: new Set((process.env.BENCH_SECTIONS ?? "reads,writes,decisions,audit").split(",").map((x) => x.trim())),
};

const log = (line: string) => process.stderr.write(`${line}\n`);
const benchStarted = performance.now();
const elapsed = () => `${((performance.now() - benchStarted) / 1000).toFixed(0)} s`;

// ---------------------------------------------------------------------------------------------
// Capabilities over Azurite

/** The commit of the share being measured resolves here, so "up to the commit" can be read off. */
let onCommitted: (() => void) | undefined;

function capabilities(store: RowStore, tables: TableNames, connectionString: string): Capabilities {
  const repo = new SharingRepository(store, tables);
  const commit = repo.commit.bind(repo);
  repo.commit = async (change: ResourceChange) => {
    const etag = await commit(change);
    onCommitted?.();
    return etag;
  };
  return {
    repo,
    emailQueue: new StorageEmailQueue({ connectionString }, `${emailQueueName}-bench`),
    clock: () => new Date(),
    newId: () => sortableId(),
    invitationTtlDays: 14,
    log: (m) => log(`  [use case log] ${m}`),
  };
}

// ---------------------------------------------------------------------------------------------
// Results

interface Row {
  operation: string;
  median: number;
  p99: number;
  n: number;
  raw?: string;
  rawMedian?: number;
  ratio?: number;
  target?: number;
  met?: boolean;
  note?: string;
}

const rows: Row[] = [];
const requestCounts: { operation: string; requests: number; breakdown: string }[] = [];

function addRow(
  operation: string,
  s: Summary,
  raw?: { name: string; s: Summary },
  target?: number,
  note?: string,
): Row {
  const ratio = raw ? s.median / raw.s.median : undefined;
  const row: Row = {
    operation,
    median: s.median,
    p99: s.p99,
    n: s.n,
    ...(raw ? { raw: raw.name, rawMedian: raw.s.median, ratio } : {}),
    ...(target !== undefined && ratio !== undefined ? { target, met: ratio <= target } : {}),
    ...(note ? { note } : {}),
  };
  rows.push(row);
  return row;
}

function printTable(): void {
  const header = ["operation", "median ms", "p99 ms", "raw median ms", "ratio", "target", "met?"];
  const lines = rows.map((r) => [
    r.operation,
    ms(r.median),
    ms(r.p99),
    r.rawMedian !== undefined ? `${ms(r.rawMedian)} (${r.raw})` : "",
    r.ratio !== undefined ? r.ratio.toFixed(2) : "",
    r.target !== undefined ? `≤ ${r.target}` : "",
    r.met === undefined ? "" : r.met ? "yes" : "NO",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i === 0 || i === 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(fmt(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(fmt(l));
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const azuriteVersion = (createRequire(import.meta.url)("azurite/package.json") as { version: string }).version;
  const machine = {
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
  let host: LocalHost | undefined;
  try {
    const conn = azurite.connectionString;
    const tables = tableNames(config.prefix);
    const meter = new RequestMeter();
    const timed = capabilities(new AzureRowStore({ connectionString: conn }), tables, conn);
    const counted = capabilities(
      new AzureRowStore({ connectionString: conn, onRequest: meter.onRequest }),
      tables,
      conn,
    );
    const raw = (table: string) => TableClient.fromConnectionString(conn, table, { allowInsecureConnection: true });

    if (config.sections.has("reads") || config.sections.has("writes")) {
      log(`[${elapsed()}] seeding the per-operation world through the use cases…`);
      const world = await seedSmallWorld(timed, "benchenv");
      if (config.sections.has("reads")) {
        host = await startLocalHost(conn);
        log(`[${elapsed()}] local host on ${host.url}`);
        await measureReads(world, timed, counted, meter, raw(tables.resources), raw(tables.principals), host);
        await host.close();
        host = undefined;
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
        );
    }

    let decisions: DecisionComparison | undefined;
    if (config.sections.has("decisions")) {
      log(`[${elapsed()}] decision step: decide() against casbin…`);
      decisions = await compareDecisions(
        { resources: 1_000, users: 400, groups: 30, admins: 5, grantsPerResource: 8, questions: 20_000 },
        { rounds: 3, roundMs: config.decisionRoundMs, verifySample: 5_000, log },
      );
    }

    let audit: Awaited<ReturnType<typeof measureAudit>> | undefined;
    if (config.sections.has("audit")) {
      log(`[${elapsed()}] audit: seeding ${config.auditGrants} grants…`);
      audit = await measureAudit(azurite, meter);
    }

    const loadAverageAtEnd = loadavg().map((v) => +v.toFixed(2));

    console.log("");
    console.log(
      `Benchmark on ${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, Azurite ${machine.azurite} in memory on loopback; load average ${machine.loadAverageAtStart.join(" ")} at start, ${loadAverageAtEnd.join(" ")} at end`,
    );
    console.log("");
    printTable();
    console.log("");
    console.log("Storage requests per operation (counted with the Tables adapter's onRequest hook):");
    for (const c of requestCounts) console.log(`  ${c.operation}: ${c.requests}  (${c.breakdown})`);
    if (decisions) {
      console.log("");
      printDecisions(decisions);
    }
    if (audit) {
      console.log("");
      console.log(
        `Audit world: ${audit.world.resources} resources, ${audit.world.grants} grants, ${audit.world.users} users (${audit.world.disabledUsers} disabled), seeded in ${(audit.world.seedMs / 1000).toFixed(1)} s with 100-operation transactions, 8 in flight`,
      );
      for (const line of audit.notes) console.log(`  ${line}`);
    }

    const out = join(root, "tools", "bench", "results", "latest.json");
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(
      out,
      JSON.stringify(
        {
          at: new Date().toISOString(),
          machine: { ...machine, loadAverageAtEnd },
          config,
          rows,
          requestCounts,
          decisions,
          audit,
          durationSeconds: +((performance.now() - benchStarted) / 1000).toFixed(1),
        },
        null,
        2,
      ) + "\n",
    );
    console.log("");
    console.log(`Wrote ${out} (${elapsed()} in all)`);
  } finally {
    await host?.close().catch(() => undefined);
    await azurite.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// The local Functions host, in this process, serving the real compiled check function

async function startLocalHost(connectionString: string): Promise<LocalHost> {
  const devKey = "bench-development-signing-key-0123456789";
  Object.assign(process.env, {
    AzureWebJobsStorage: connectionString,
    TABLE_PREFIX: config.prefix,
    AUTH_DEV_SIGNING_KEY: devKey,
    INVITATION_SIGNING_KEY: "bench-invitation-signing-key-0123456789abcdef",
    ACS_CONNECTION_STRING: "endpoint=http://127.0.0.1:9/;accesskey=YmVuY2g=",
    EMAIL_SENDER: "DoNotReply@bench.test",
    PUBLIC_BASE_URL: "http://127.0.0.1:9",
    APP_BASE_URL: "http://127.0.0.1:9/app",
  });
  benchToken = (sub: string) => signDevToken(devKey, { sub });
  const functionsDir = join(root, "dist", "functions");
  const hostJson: unknown = JSON.parse(readFileSync(join(root, "host.json"), "utf8"));
  return startHost({
    functionFiles: [join(functionsDir, "check.js"), join(functionsDir, "health.js")],
    port: 0,
    hostname: "127.0.0.1",
    hostJson,
    disableTimerSchedules: true,
    logLine: () => undefined,
  });
}
let benchToken: (sub: string) => Promise<string> = () => Promise.reject(new Error("no host"));

// ---------------------------------------------------------------------------------------------
// Reads: access check, listing, the check through HTTP

async function measureReads(
  world: SmallWorld,
  timed: Capabilities,
  counted: Capabilities,
  meter: RequestMeter,
  resources: TableClient,
  principals: TableClient,
  host: LocalHost,
): Promise<void> {
  const { envId, reader, checkResource } = world;
  const item = { principalId: reader, resourceId: checkResource, action: "processMining.viewAnalytics" };
  const token = await benchToken(reader);
  const checkBody = JSON.stringify({ checks: [item] });

  // What is measured does what it should, once, before timing it.
  const inProcess = await check(timed, as(reader), envId, [item]);
  if (!inProcess[0]?.allowed) throw new Error(`the benchmark's check is refused: ${JSON.stringify(inProcess)}`);
  const httpCheck = async () => {
    const r = await fetch(`${host.url}/api/environments/${envId}/check`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: checkBody,
    });
    const body = (await r.json()) as { results?: { allowed: boolean }[] };
    if (r.status !== 200 || !body.results?.[0]?.allowed)
      throw new Error(`HTTP check answered ${r.status}: ${JSON.stringify(body)}`);
  };
  await httpCheck();
  const listed = await principalResources(timed, as(reader), envId, reader, undefined, undefined);
  if (listed.resources.length !== world.resources.length)
    throw new Error(`listing found ${listed.resources.length} resources, expected ${world.resources.length}`);

  const metaPk = keys.resourcePk(envId, checkResource);
  const readerPk = keys.principalPk({ type: "user", id: reader });
  const metaSize = JSON.stringify(await resources.getEntity(metaPk, keys.metaRk)).length;
  // The same filter the repository sends for a principal's index page.
  const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const indexPrefix = keys.indexPrefix(envId);
  const end = indexPrefix.slice(0, -1) + String.fromCharCode(indexPrefix.charCodeAt(indexPrefix.length - 1) + 1);
  const listFilter = `PartitionKey eq ${q(readerPk)} and (RowKey eq ${q(keys.memberRk(envId))} or (RowKey ge ${q(indexPrefix)} and RowKey lt ${q(end)}))`;
  const rawQuery = async () => {
    const page = await firstPageLength(principals, listFilter);
    if (page !== listed.resources.length * 2 + 1) throw new Error(`raw partition query returned ${page} rows`);
  };
  // The check's own two requests, raw: the resource partition (meta + grants) and the user's (profile, member, groups), together.
  const resourceFilter = `PartitionKey eq ${q(metaPk)} and (RowKey eq 'meta' or (RowKey ge 'grant|' and RowKey lt 'grant}'))`;
  const memberOf = keys.memberOfPrefix(envId);
  const userFilter = `PartitionKey eq ${q(readerPk)} and (RowKey eq 'profile' or RowKey eq ${q(keys.memberRk(envId))} or (RowKey ge ${q(memberOf)} and RowKey lt ${q(memberOf.slice(0, -1) + "}")}))`;
  const rawPair = () =>
    Promise.all([firstPageLength(resources, resourceFilter), firstPageLength(principals, userFilter)]);
  const pairRows = await rawPair();
  if (pairRows[0] !== 9 || pairRows[1] !== 3)
    throw new Error(`the raw pair of queries returned ${pairRows.join(" and ")} rows`);
  // The floor of an HTTP call on loopback: an unknown route, answered 404 by the host without running a function.
  const http404 = async () => {
    const r = await fetch(`${host.url}/api/no-such-route`);
    await r.arrayBuffer();
  };

  log(`[${elapsed()}] reads: ${config.iterations} rounds of point read, check, HTTP check, partition query, listing…`);
  const s = await interleave(
    [
      { name: "point", run: () => resources.getEntity(metaPk, keys.metaRk) },
      { name: "check", run: () => check(timed, as(reader), envId, [item]) },
      { name: "http", run: httpCheck },
      { name: "query", run: rawQuery },
      { name: "list", run: () => principalResources(timed, as(reader), envId, reader, undefined, undefined) },
      { name: "pair", run: rawPair },
      { name: "http404", run: http404 },
    ],
    { warmup: config.warmup, iterations: config.iterations },
  );
  const get = (k: string) => summarize(s.get(k) ?? []);
  addRow(
    "access check (check, 1 item, self)",
    get("check"),
    { name: `point read, ${metaSize} B row`, s: get("point") },
    1.3,
  );
  addRow(
    "  … the same check ÷ its own two queries, raw, sent together",
    get("check"),
    { name: "2 raw queries together", s: get("pair") },
    undefined,
    "the service's own overhead over its requests",
  );
  addRow(
    "list a principal's resources (24 resources, 49 rows)",
    get("list"),
    { name: "partition query, same filter", s: get("query") },
    1.3,
  );
  addRow(
    "access check through HTTP on the local host",
    get("http"),
    { name: "in-process check", s: get("check") },
    undefined,
    "no target in the issue",
  );
  addRow(
    "  HTTP floor: unknown route, 404 from the host",
    get("http404"),
    undefined,
    undefined,
    "fetch + loopback + host routing, no function",
  );

  await count(meter, "access check (check, 1 item, self)", 5, () => check(counted, as(reader), envId, [item]));
  await count(meter, "list a principal's resources", 5, () =>
    principalResources(counted, as(reader), envId, reader, undefined, undefined),
  );
}

async function firstPageLength(client: TableClient, filter: string): Promise<number> {
  const page = await client.listEntities({ queryOptions: { filter } }).byPage({ maxPageSize: 1000 }).next();
  return page.done ? 0 : page.value.length;
}

// ---------------------------------------------------------------------------------------------
// Writes: share (with the API's default invitation, and without), revoke, against a raw transaction

const roleFor: Record<ResourceKind, Role> = {
  processMining: "viewer",
  taskMining: "contributor",
  cloudFlow: "runOnly",
};

async function measureWrites(
  world: SmallWorld,
  timed: Capabilities,
  counted: Capabilities,
  meter: RequestMeter,
  resources: TableClient,
  principals: TableClient,
  environments: TableClient,
): Promise<void> {
  const { envId, owner } = world;
  const targets = world.shareTargets;
  const shareResources = world.resources.filter((r) => r.id !== world.checkResource);
  const pick = (i: number, offset: number) => {
    const n = ((i % 100_000) + 100_000) % 100_000;
    const r = shareResources[(n + offset) % shareResources.length]!;
    const t = targets[Math.floor(n / shareResources.length) % targets.length]!;
    return { resource: r, target: t };
  };
  const rawPk = keys.resourcePk(envId, "raw-transaction");
  const grantLike = JSON.stringify({
    principalType: "user",
    principalId: "u0040",
    role: "viewer",
    grantedBy: owner,
    grantedAt: new Date().toISOString(),
  });
  const changeLike = JSON.stringify({
    changeId: sortableId(),
    at: new Date().toISOString(),
    actorId: owner,
    action: "grant",
    resourceId: "processMining-1",
    principal: { type: "user", id: "u0040" },
    role: "viewer",
    detail: "granted viewer on processMining Bench processMining processMining-1",
  });
  const rawTransaction = () =>
    resources.submitTransaction([
      ["upsert", { partitionKey: rawPk, rowKey: "grant|user|u0040|viewer", json: grantLike } as TableEntity, "Replace"],
      ["upsert", { partitionKey: rawPk, rowKey: "change|0000000000000|x", json: changeLike } as TableEntity, "Replace"],
    ] satisfies TransactionAction[]);

  // The share's own requests up to its commit, raw: the resource partition, the caller's and the
  // target's partitions and the environment row, together; then one 8-operation transaction of
  // rows the sizes of the share's (meta, grant, invitation, 2 change rows, 3 outbox rows).
  const q = (v: string) => `'${v.replace(/'/g, "''")}'`;
  const metaJson = String(
    (await resources.getEntity<{ json: string }>(keys.resourcePk(envId, world.shareResource), keys.metaRk)).json,
  );
  const sizes = [metaJson.length, grantLike.length, 420, changeLike.length, changeLike.length, 300, 700, 420];
  const patternPk = keys.resourcePk(envId, "raw-share-pattern");
  const rawSharePattern = async (i: number) => {
    const { resource, target } = pick(i, 0);
    const userFilter = (id: string) =>
      `PartitionKey eq ${q(keys.principalPk({ type: "user", id }))} and (RowKey eq 'profile' or RowKey eq ${q(keys.memberRk(envId))} or (RowKey ge ${q(keys.memberOfPrefix(envId))} and RowKey lt ${q(keys.memberOfPrefix(envId).slice(0, -1) + "}")}))`;
    await Promise.all([
      firstPageLength(
        resources,
        `PartitionKey eq ${q(keys.resourcePk(envId, resource.id))} and (RowKey eq 'meta' or (RowKey ge 'grant|' and RowKey lt 'grant}'))`,
      ),
      firstPageLength(principals, userFilter(owner)),
      environments.getEntity(keys.environmentPk, envId),
      firstPageLength(principals, userFilter(target)),
    ]);
    await resources.submitTransaction(
      sizes.map((n, k): TransactionAction => [
        "upsert",
        { partitionKey: patternPk, rowKey: `row${k}`, json: "x".repeat(n) } as TableEntity,
        "Replace",
      ]),
    );
  };

  const shareOp =
    (caps: Capabilities, sendInvitation: boolean, offset: number) => async (i: number, marks: Map<string, number>) => {
      const { resource, target } = pick(i, offset);
      onCommitted = () => marks.set("commit", performance.now());
      try {
        const r = await share(caps, as(owner), envId, resource.id, {
          role: roleFor[resource.kind],
          principals: [{ type: "user", id: target }],
          sendInvitation,
        });
        if (!r.created) throw new Error(`share ${resource.id} → ${target} created nothing`);
      } finally {
        onCommitted = undefined;
      }
    };
  const revokeOp = (caps: Capabilities, offset: number) => async (i: number) => {
    const { resource, target } = pick(i, offset);
    await revoke(caps, as(owner), envId, resource.id, { type: "user", id: target }, roleFor[resource.kind]);
  };
  // Shares with and without an invitation go to resources half the list apart, so they never meet.
  const half = Math.floor(shareResources.length / 2);
  log(
    `[${elapsed()}] writes: ${config.iterations} rounds of raw transaction, share (+ invitation), revoke, share (no invitation), revoke…`,
  );
  const s = await interleaveFixed(
    [
      { name: "tx", run: () => rawTransaction() },
      { name: "sharePattern", run: rawSharePattern },
      { name: "share", run: shareOp(timed, true, 0) },
      { name: "revoke", run: revokeOp(timed, 0) },
      { name: "shareNoInvite", run: shareOp(timed, false, half) },
      { name: "revokeNoInvite", run: revokeOp(timed, half) },
    ],
    config.warmup,
    config.iterations,
  );
  const get = (k: string) => summarize(s.get(k) ?? []);
  const tx = { name: "2-entity transaction", s: get("tx") };
  addRow("share to one principal, end to end (default: with invitation)", get("share"), tx, 1.5);
  addRow("  … of which up to the commit (reads, decide, 1 transaction)", get("share:commit"), tx, 1.5);
  addRow("share to one principal, end to end, sendInvitation: false", get("shareNoInvite"), tx, 1.5);
  addRow("  … of which up to the commit", get("shareNoInvite:commit"), tx, 1.5);
  addRow(
    "  … share up to the commit ÷ its own requests, raw",
    get("share:commit"),
    { name: "4 reads together, then 8-op transaction", s: get("sharePattern") },
    undefined,
    "the service's own overhead over its requests",
  );
  addRow("revoke one grant, end to end", get("revoke"), tx, undefined, "informational");

  // Request counts, with the relay's requests apart from the ones up to the commit (after one
  // unmetered share and revoke, so table and queue creation on first use is not counted).
  {
    const { resource, target } = pick(900, 0);
    await share(counted, as(owner), envId, resource.id, {
      role: roleFor[resource.kind],
      principals: [{ type: "user", id: target }],
      sendInvitation: true,
    });
    await revoke(counted, as(owner), envId, resource.id, { type: "user", id: target }, roleFor[resource.kind]);
  }
  for (const [label, sendInvitation, offset] of [
    ["share (with invitation)", true, 3],
    ["share (sendInvitation: false)", false, 3 + half],
  ] as const) {
    const runs = 5;
    meter.start();
    let before = 0;
    let upToCommit = 0;
    for (let i = 0; i < runs; i++) {
      const { resource, target } = pick(1000 + i * 7, offset);
      onCommitted = () => {
        upToCommit += meter.total - before;
        meter.setPhase("relay: ");
      };
      meter.setPhase("");
      before = meter.total;
      await share(counted, as(owner), envId, resource.id, {
        role: roleFor[resource.kind],
        principals: [{ type: "user", id: target }],
        sendInvitation,
      });
      onCommitted = undefined;
      await revoke(timed, as(owner), envId, resource.id, { type: "user", id: target }, roleFor[resource.kind]);
    }
    const counts = meter.stop();
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    requestCounts.push({
      operation: `${label}: up to the commit ${upToCommit / runs}, relay ${(total - upToCommit) / runs}`,
      requests: total / runs,
      breakdown: formatCounts(counts, runs),
    });
  }
  await count(meter, "revoke", 5, async (i) => {
    const { resource, target } = pick(2000 + i * 7, 1);
    await share(timed, as(owner), envId, resource.id, {
      role: roleFor[resource.kind],
      principals: [{ type: "user", id: target }],
      sendInvitation: false,
    });
    meter.setPhase("");
    return revoke(counted, as(owner), envId, resource.id, { type: "user", id: target }, roleFor[resource.kind]);
  });
}

/** Like `interleave`, but in a fixed order each round (a share must come before its revoke). */
async function interleaveFixed(
  ops: { name: string; run: (i: number, marks: Map<string, number>) => Promise<unknown> }[],
  warmup: number,
  iterations: number,
) {
  // Rotating only the raw operation's place would still keep share before revoke; the raw
  // transaction alternates between first and last so it sees both neighbours.
  const samples = new Map<string, number[]>();
  const record = (k: string, v: number) => void (samples.get(k) ?? samples.set(k, []).get(k)!).push(v);
  for (let w = 0; w < warmup; w++) for (const op of ops) await op.run(-1 - w, new Map());
  for (let i = 0; i < iterations; i++) {
    const order = i % 2 === 0 ? ops : [...ops.slice(1), ops[0]!];
    for (const op of order) {
      const marks = new Map<string, number>();
      const t0 = performance.now();
      await op.run(i, marks);
      record(op.name, performance.now() - t0);
      for (const [m, at] of marks) record(`${op.name}:${m}`, at - t0);
    }
  }
  return samples;
}

async function count(
  meter: RequestMeter,
  operation: string,
  runs: number,
  f: (i: number) => Promise<unknown>,
): Promise<void> {
  // Once unmetered first: a fresh adapter creates its tables on first use, which no operation pays again.
  await f(-1);
  meter.start();
  for (let i = 0; i < runs; i++) {
    meter.setPhase("");
    await f(i);
  }
  const counts = meter.stop();
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  requestCounts.push({ operation, requests: total / runs, breakdown: formatCounts(counts, runs) });
}

// ---------------------------------------------------------------------------------------------
// The audit of 100,000 grants against a raw scan of the same rows

async function measureAudit(
  azurite: Azurite,
  meter: RequestMeter,
): Promise<{ world: AuditWorld; runs: unknown[]; notes: string[] }> {
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
  const caps = capabilities(new AzureRowStore({ connectionString: conn, onRequest: meter.onRequest }), tables, conn);
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
  const q = (v: string) => `'${v.replace(/'/g, "''")}'`;
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

function printDecisions(d: DecisionComparison): void {
  console.log(
    `Decision step, checks per second (${d.shape.resources} resources × ${d.shape.grantsPerResource} grants, ${d.shape.users} users, ${d.shape.groups} groups of 15, ${d.shape.admins} admins; ${d.shape.questions} questions):`,
  );
  const base = d.engines[0]!.checksPerSecond;
  for (const e of d.engines) {
    console.log(
      `  ${e.name.padEnd(62)} ${Math.round(e.checksPerSecond).toLocaleString("en").padStart(10)} /s  (×${(e.checksPerSecond / base).toFixed(3)} of decide)  ` +
        `agrees on ${e.agreesWithDecide.compared - e.agreesWithDecide.disagreements}/${e.agreesWithDecide.compared}${e.policyLines ? `, ${e.policyLines} policy lines` : ""}`,
    );
  }
  console.log(`  ${d.note}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exitCode = 1;
});
