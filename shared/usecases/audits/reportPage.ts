import { z } from "zod";
import { invalid } from "../../errors.js";
import {
  auditRules,
  severities,
  type AuditRule,
  type AuditRun,
  type Finding,
  type InventoryItem,
  type Severity,
} from "../../model/audits.js";
import { compareFindings } from "../../rules/audit.js";
import { verifyReportToken } from "../../reports/token.js";
import type { TrendPoint } from "../../store/auditsRepository.js";
import { decodePageToken, encodePageToken } from "../../store/pageToken.js";
import type { Capabilities } from "../capabilities.js";

/**
 * The audit report page (`GET /api/reports/{token}`, docs/reports.md): the audit a signed link
 * names, read with a bounded number of rows whatever the audit's size: the run row, then at once the
 * environment row, at most `trendLength` trend rows (one query), one inventory chunk (a point read)
 * and `findingChunksPerPage` finding chunks (one range query).
 */

type Deps = Pick<Capabilities, "repo" | "audits" | "clock">;

/** Finding chunks a page of the report's findings reads. */
export const findingChunksPerPage = 2;

export interface ReportFilter {
  rule?: AuditRule | undefined;
  severity?: Severity | undefined;
}

/** Where the page is: the filter, and which part of the findings and of the inventory it shows (chunk numbers). */
export interface ReportQuery {
  filter: ReportFilter;
  findingsPart: number;
  inventoryPart: number;
}

export type ReportRefusal = { reason: "invalid" } | { reason: "expired" } | { reason: "notFound" };

export interface ReportPageModel {
  envId: string;
  environmentName: string;
  run: Pick<AuditRun, "auditId" | "trigger" | "status" | "createdAt" | "startedAt" | "finishedAt" | "stats">;
  /** Oldest first, ending with this audit (when it is done). */
  trend: TrendPoint[];
  inventory: { items: InventoryItem[]; part: number; parts: number };
  /** This page's findings matching the filter, worst first, from chunks `[from, to)` of `chunks`. */
  findings: { items: Finding[]; from: number; to: number; chunks: number };
  query: ReportQuery;
  linkExpiresAt: Date;
}

/** Checks a report link and reads its audit; the refusal when the link or the audit is not there. */
async function openAudit(
  deps: Deps,
  key: string,
  token: string,
): Promise<{ ok: true; run: AuditRun; expiresAt: Date } | ({ ok: false } & ReportRefusal)> {
  const check = await verifyReportToken(key, token, deps.clock());
  if (!check.ok) return { ok: false, reason: check.reason };
  const got = await deps.audits.getRun(check.claims.envId, check.claims.auditId);
  if (!got) return { ok: false, reason: "notFound" };
  return { ok: true, run: got.run, expiresAt: check.claims.expiresAt };
}

export const matches = (f: Finding, filter: ReportFilter) =>
  (!filter.rule || f.rule === filter.rule) && (!filter.severity || f.severity === filter.severity);

export async function openReport(
  deps: Deps,
  key: string,
  token: string,
  query: ReportQuery,
): Promise<{ ok: true; page: ReportPageModel } | ({ ok: false } & ReportRefusal)> {
  const opened = await openAudit(deps, key, token);
  if (!opened.ok) return opened;
  const run = opened.run;
  const inventoryParts = run.inventoryChunks ?? 0;
  const inventoryPart = Math.min(query.inventoryPart, Math.max(inventoryParts - 1, 0));
  const from = Math.min(query.findingsPart, run.chunks);
  const to = Math.min(from + findingChunksPerPage, run.chunks);
  const [env, trend, inventory, findings] = await Promise.all([
    deps.repo.getEnvironment(run.envId),
    run.status === "done" && run.finishedAt
      ? deps.audits.trend(run.envId, { finishedAt: run.finishedAt, auditId: run.auditId })
      : Promise.resolve([]),
    inventoryParts > 0 ? deps.audits.inventoryChunk(run.envId, run.auditId, inventoryPart) : Promise.resolve([]),
    deps.audits.findingChunks(run.envId, run.auditId, from, to),
  ]);
  return {
    ok: true,
    page: {
      envId: run.envId,
      environmentName: env?.displayName ?? run.envId,
      run,
      trend: [...trend].reverse(),
      inventory: { items: inventory, part: inventoryPart, parts: inventoryParts },
      findings: {
        items: findings.filter((f) => matches(f, query.filter)).sort(compareFindings),
        from,
        to,
        chunks: run.chunks,
      },
      query: { ...query, findingsPart: from, inventoryPart },
      linkExpiresAt: opened.expiresAt,
    },
  };
}

/**
 * The findings matching the filter, worst first, for the CSV download. Reads every finding chunk of
 * the audit, as the JSON report (`GET .../audits/{auditId}`) does.
 */
export async function reportFindings(
  deps: Deps,
  key: string,
  token: string,
  filter: ReportFilter,
): Promise<{ ok: true; run: AuditRun; findings: Finding[] } | ({ ok: false } & ReportRefusal)> {
  const opened = await openAudit(deps, key, token);
  if (!opened.ok) return opened;
  const { run } = opened;
  const findings = await deps.audits.findings(run.envId, run.auditId, run.chunks);
  return { ok: true, run, findings: findings.filter((f) => matches(f, filter)).sort(compareFindings) };
}

/** A bad query parameter of the page: the field and why. */
export interface QueryProblem {
  field: string;
  message: string;
}

const part = z.coerce.number().int().min(0).max(9_999_999);

/**
 * The page's query: `rule` and `severity` (empty = all, as the filter form sends them), `findings`
 * and `inventory` (the parts shown; see `ReportPageModel`). Every problem at once, naming the field.
 */
export function parseReportQuery(
  raw: Record<string, string>,
): { ok: true; query: ReportQuery } | { ok: false; problems: QueryProblem[] } {
  const problems: QueryProblem[] = [];
  const rule = raw.rule || undefined;
  const severity = raw.severity || undefined;
  if (rule !== undefined && !(auditRules as readonly string[]).includes(rule))
    problems.push({ field: "rule", message: "is not one of the audit's rules" });
  if (severity !== undefined && !(severities as readonly string[]).includes(severity))
    problems.push({ field: "severity", message: "must be high, medium or low" });
  const parts = { findings: 0, inventory: 0 };
  for (const name of ["findings", "inventory"] as const) {
    if (raw[name] === undefined || raw[name] === "") continue;
    const p = part.safeParse(raw[name]);
    if (p.success) parts[name] = p.data;
    else problems.push({ field: name, message: "must be a whole number from 0" });
  }
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    query: {
      filter: { rule: rule as AuditRule | undefined, severity: severity as Severity | undefined },
      findingsPart: parts.findings,
      inventoryPart: parts.inventory,
    },
  };
}

const inventoryTokenSchema = z.object({ inv: z.number().int().min(0).max(9_999_999) });

/** The JSON report's inventory page: a chunk of it, and the token of the next one. */
export async function inventoryPage(
  deps: Pick<Capabilities, "audits">,
  run: Pick<AuditRun, "envId" | "auditId" | "inventoryChunks">,
  continuationToken: string | undefined,
): Promise<{ items: InventoryItem[]; continuationToken?: string }> {
  let seq = 0;
  if (continuationToken !== undefined) {
    try {
      seq = decodePageToken(inventoryTokenSchema, continuationToken).inv;
    } catch {
      throw invalid("the inventory continuation token is not one this API gave out", [
        { field: "query.inventoryContinuationToken", message: "not a valid token" },
      ]);
    }
  }
  const parts = run.inventoryChunks ?? 0;
  if (seq >= parts) return { items: [] };
  const items = await deps.audits.inventoryChunk(run.envId, run.auditId, seq);
  return seq + 1 < parts ? { items, continuationToken: encodePageToken({ inv: seq + 1 }) } : { items };
}
