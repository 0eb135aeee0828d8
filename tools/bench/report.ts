/**
 * What the bench reports: one row per measured operation (a median against the raw storage
 * operation's median, taken in the same run), storage request counts, and the printing and JSON
 * file of them all.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { DecisionComparison } from "./casbin.js";
import { config, elapsed, elapsedSeconds, root } from "./config.js";
import { formatCounts, type RequestMeter } from "./meter.js";
import { ms, type Summary } from "./stats.js";
import type { AuditWorld } from "./world.js";

export interface Row {
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

export const rows: Row[] = [];
export const requestCounts: { operation: string; requests: number; roundTrips?: number; breakdown: string }[] = [];

export function addRow(
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

/** One figure of the scale section: a big case's median over a small case's, or a figure of its own (`own`). */
export interface ScaleFigure {
  figure: string;
  median?: number;
  p99?: number;
  n?: number;
  baselineMedian?: number;
  ratio?: number;
  /** The value as printed: the ratio, a rate, or why there is none. */
  value: string;
  target?: string;
  met?: boolean;
  note?: string;
}

/** Round trips and storage requests on one operation's answer's path, over its measured samples. */
export interface RoundTripRow {
  operation: string;
  n: number;
  roundTrips: Summary;
  requests: Summary;
  target?: number | undefined;
  breakdown: string;
}

export const scaleFigures: ScaleFigure[] = [];
export const roundTrips: RoundTripRow[] = [];
export const scaleNotes: string[] = [];

export function addScaleFigure(
  figure: string,
  s: Summary | undefined,
  baseline: Summary | undefined,
  target: number | undefined,
  own?: { value: string; target: string; met: boolean | undefined; note?: string },
): void {
  const ratio = s && baseline ? s.median / baseline.median : undefined;
  scaleFigures.push({
    figure,
    ...(s ? { median: s.median, p99: s.p99, n: s.n } : {}),
    ...(baseline ? { baselineMedian: baseline.median } : {}),
    ...(ratio !== undefined ? { ratio } : {}),
    value: own?.value ?? (ratio !== undefined ? ratio.toFixed(2) : "-"),
    ...(own ? { target: own.target } : target !== undefined ? { target: `≤ ${target}` } : {}),
    ...(own
      ? own.met === undefined
        ? {}
        : { met: own.met }
      : target !== undefined && ratio !== undefined
        ? { met: ratio <= target }
        : {}),
    ...(own?.note ? { note: own.note } : {}),
  });
}

/** The webhooks section (webhooks.ts): a share's answer's path with and without subscriptions. */
export interface WebhookShareRow {
  operation: string;
  subscriptions: number;
  n: number;
  roundTrips: Summary;
  /** Tables and queue requests on the answer's path. */
  requests: Summary;
  /** The meter's POSTs to the webhook queue on the answer's path. */
  webhookSendsOnPath: Summary;
  /** The wrapped webhook queue's event messages sent during the call. */
  eventMessagesSent: Summary;
  /** The fewest Tables requests in the round trip of any webhook send (0: a round trip of its own). */
  fewestTableRequestsBesideAWebhookSend: number | undefined;
  /** POSTs the loopback receiver got from the delivery trigger, off the path. */
  deliveries: number;
  medianMs: number;
  breakdown: string;
}

export const webhookRows: WebhookShareRow[] = [];
export const webhookTargets: { figure: string; value: string; target: string; met: boolean }[] = [];
export const webhookNotes: string[] = [];

function printWebhooks(): void {
  console.log(
    "Webhooks: share to one user through HTTP on the local host running every function, with 0 and with 3 subscriptions (answer's path):",
  );
  printColumns(
    [
      "operation",
      "n",
      "round trips (median, max)",
      "requests (median)",
      "webhook sends on path (median)",
      "event msgs sent (median)",
      "beside ≥ table reqs",
      "deliveries",
      "median ms",
      "per call",
    ],
    webhookRows.map((r) => [
      r.operation,
      String(r.n),
      `${r.roundTrips.median} (max ${r.roundTrips.max})`,
      String(r.requests.median),
      String(r.webhookSendsOnPath.median),
      String(r.eventMessagesSent.median),
      r.fewestTableRequestsBesideAWebhookSend === undefined ? "-" : String(r.fewestTableRequestsBesideAWebhookSend),
      String(r.deliveries),
      ms(r.medianMs),
      r.breakdown,
    ]),
  );
  console.log("");
  printColumns(
    ["target", "measured", "bound", "met?"],
    webhookTargets.map((t) => [t.figure, t.value, t.target, t.met ? "yes" : "NO"]),
  );
  for (const note of webhookNotes) console.log(`  ${note}`);
}

export function addRoundTrips(row: RoundTripRow): void {
  roundTrips.push(row);
}

function printScale(): void {
  console.log(
    `Scale, through HTTP on the local host running every function (${config.scale.members} members; medians, interleaved):`,
  );
  const header = ["figure", "median ms", "n", "small case ms", "value", "target", "met?"];
  const lines = scaleFigures.map((f) => [
    f.figure,
    f.median !== undefined ? ms(f.median) : "",
    f.n !== undefined ? String(f.n) : "",
    f.baselineMedian !== undefined ? ms(f.baselineMedian) : "",
    f.value,
    f.target ?? "",
    f.met === undefined ? "" : f.met ? "yes" : "NO",
  ]);
  printColumns(header, lines);
  for (const f of scaleFigures) if (f.note) console.log(`  ${f.figure.trim().split(":")[0]}: ${f.note}`);
  console.log("");
  console.log("Round trips on the answer's path (requests sent together count once), and the storage requests:");
  const rtHeader = ["operation", "n", "round trips (median, max)", "target", "met?", "requests (median)", "per call"];
  const rtLines = roundTrips.map((r) => [
    r.operation,
    String(r.n),
    `${r.roundTrips.median} (max ${r.roundTrips.max})`,
    r.target !== undefined ? `≤ ${r.target}` : "",
    r.target === undefined ? "" : r.roundTrips.max <= r.target ? "yes" : "NO",
    String(r.requests.median),
    r.breakdown,
  ]);
  printColumns(rtHeader, rtLines);
  for (const note of scaleNotes) console.log(`  ${note}`);
}

/** Left-aligns the first and last columns, right-aligns the others. */
function printColumns(header: string[], lines: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const last = header.length - 1;
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i === last ? c.padEnd(i === last ? 0 : widths[i]!) : c.padStart(widths[i]!)))
      .join("  ");
  console.log(fmt(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(fmt(l));
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

/**
 * Counts the storage requests of `runs` calls of `f` (after one unmetered call: a fresh adapter
 * creates its tables on first use, which no operation pays again) and reports them per call.
 */
export async function countRequests(
  meter: RequestMeter,
  operation: string,
  runs: number,
  f: (i: number) => Promise<unknown>,
): Promise<void> {
  await f(-1);
  meter.start();
  for (let i = 0; i < runs; i++) {
    meter.setPhase("");
    await f(i);
  }
  const counts = meter.stop();
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  requestCounts.push({
    operation,
    requests: total / runs,
    roundTrips: meter.waves / runs,
    breakdown: formatCounts(counts, runs),
  });
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

/** The machine the bench ran on, as printed and written. */
export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  azurite: string;
  loadAverageAtStart: number[];
}

/** The audit section's result. */
export interface AuditResult {
  world: AuditWorld;
  runs: unknown[];
  notes: string[];
}

/** The local host's HTTP overhead over a bare node:http server, from the reads section. */
export interface HostOverhead {
  hostMedianMs: number;
  bareMedianMs: number;
}

/** Prints the report to stdout and writes it to tools/bench/results/latest.json. */
export function report(results: {
  machine: Machine;
  loadAverageAtEnd: number[];
  hostOverhead: HostOverhead | undefined;
  decisions: DecisionComparison | undefined;
  audit: AuditResult | undefined;
}): void {
  const { machine, loadAverageAtEnd, hostOverhead, decisions, audit } = results;
  console.log("");
  console.log(
    `Benchmark on ${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, Azurite ${machine.azurite} in memory on loopback; load average ${machine.loadAverageAtStart.join(" ")} at start, ${loadAverageAtEnd.join(" ")} at end`,
  );
  if (rows.length > 0) {
    console.log("");
    printTable();
  }
  if (hostOverhead) {
    console.log("");
    const { hostMedianMs, bareMedianMs } = hostOverhead;
    console.log(
      `Local host's HTTP overhead: ${ms(hostMedianMs - bareMedianMs)} ms a request over a bare node:http server (medians ${ms(hostMedianMs)} and ${ms(bareMedianMs)} ms, ×${(hostMedianMs / bareMedianMs).toFixed(2)})`,
    );
  }
  if (requestCounts.length > 0) {
    console.log("");
    console.log("Storage requests per operation (counted with the Tables adapter's onRequest hook):");
    for (const c of requestCounts)
      console.log(
        `  ${c.operation}: ${c.requests}${c.roundTrips !== undefined ? ` in ${c.roundTrips} round trips` : ""}  (${c.breakdown})`,
      );
  }
  if (scaleFigures.length > 0) {
    console.log("");
    printScale();
  }
  if (webhookRows.length > 0) {
    console.log("");
    printWebhooks();
  }
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
        hostOverhead,
        scale: scaleFigures.length > 0 ? { figures: scaleFigures, roundTrips, notes: scaleNotes } : undefined,
        webhooks:
          webhookRows.length > 0 ? { rows: webhookRows, targets: webhookTargets, notes: webhookNotes } : undefined,
        decisions,
        audit,
        durationSeconds: elapsedSeconds(),
      },
      null,
      2,
    ) + "\n",
  );
  console.log("");
  console.log(`Wrote ${out} (${elapsed()} in all)`);
}
