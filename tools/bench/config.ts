/**
 * The bench's knobs (environment variables) and its progress log. Set the knobs low for a run of a
 * minute or two, e.g. BENCH_ITERATIONS=40 BENCH_AUDIT_GRANTS=3000 BENCH_AUDIT_USERS=200
 * BENCH_AUDIT_REPS=1 BENCH_DECISION_ROUND_MS=300.
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { findProjectRoot } from "../settings.js";

export const root = findProjectRoot(dirname(fileURLToPath(import.meta.url)));

const num = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? "");
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
export const config = {
  iterations: num("BENCH_ITERATIONS", 300),
  warmup: num("BENCH_WARMUP", 30),
  auditGrants: num("BENCH_AUDIT_GRANTS", 100_000),
  auditGrantsPerResource: num("BENCH_AUDIT_GRANTS_PER_RESOURCE", 100),
  auditUsers: num("BENCH_AUDIT_USERS", 2_000),
  auditReps: num("BENCH_AUDIT_REPS", 2),
  decisionRoundMs: num("BENCH_DECISION_ROUND_MS", 1_500),
  /** The scale section (scale.ts). A quick run: BENCH_SCALE_MEMBERS=300 BENCH_SCALE_ITERATIONS=30. */
  scale: {
    /** Members of the big group, and grants on the big resource. */
    members: num("BENCH_SCALE_MEMBERS", 5_000),
    /** Rounds of the checks and listings. */
    iterations: num("BENCH_SCALE_ITERATIONS", 100),
    /** Rounds of share with the big and the small group (a share to 5,000 can take ~20 s today). */
    shareSamples: num("BENCH_SCALE_SHARE_SAMPLES", 5),
    /** Rounds of PATCH members on both groups. */
    patchSamples: num("BENCH_SCALE_PATCH_SAMPLES", 20),
    /** Groups the grouped user is in, and resources shared with each. */
    groups: num("BENCH_SCALE_GROUPS", 30),
    groupResources: num("BENCH_SCALE_GROUP_RESOURCES", 2),
    /** How long members' listings may take to show a share, and storage to go quiet after a sample. */
    indexTimeoutMs: num("BENCH_SCALE_INDEX_TIMEOUT_MS", 120_000),
    /** How long storage must see no request before the next sample runs (background work done). */
    quietMs: num("BENCH_SCALE_QUIET_MS", 500),
  },
  /** Shares measured in each environment of the webhooks section (webhooks.ts), after 2 warm-up rounds. */
  webhookSamples: num("BENCH_WEBHOOK_SAMPLES", 20),
  prefix: "bench",
  auditPrefix: "benchaudit",
  /** Comma-separated subset of reads,writes,scale,webhooks,expiry,reviews,decisions,audit (default: all). */
  sections: new Set(
    (process.env.BENCH_SECTIONS ?? "reads,writes,scale,webhooks,expiry,reviews,decisions,audit")
      .split(",")
      .map((x) => x.trim()),
  ),
};

/** Progress goes to stderr; the report alone goes to stdout. */
export const log = (line: string) => process.stderr.write(`${line}\n`);
const benchStarted = performance.now();
/** Seconds since the bench started, for the progress log. */
export const elapsed = () => `${((performance.now() - benchStarted) / 1000).toFixed(0)} s`;
export const elapsedSeconds = () => +((performance.now() - benchStarted) / 1000).toFixed(1);
