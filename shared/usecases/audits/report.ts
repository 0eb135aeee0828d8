import { notFound } from "../../errors.js";
import { compareFindings } from "../../rules/audit.js";
import type { AuditRun, AuditStats, Finding, InventoryItem } from "../../model/audits.js";
import type { Capabilities, Caller } from "../capabilities.js";
import { requireAuditor } from "./request.js";
import { inventoryPage } from "./reportPage.js";

export interface AuditReport {
  auditId: string;
  envId: string;
  trigger: AuditRun["trigger"];
  status: AuditRun["status"];
  createdAt: string;
  startedAt?: string | undefined;
  finishedAt?: string | undefined;
  stats: AuditStats;
  error?: string | undefined;
  findings: Finding[];
  /** Every resource with its owners as the audit found it, a page at a time (docs/reports.md). */
  inventory: { items: InventoryItem[]; continuationToken?: string };
}

/** `GET .../audits/{auditId}`: the run and its findings, worst first (so far, while it runs). */
export async function getAudit(
  deps: Pick<Capabilities, "repo" | "audits">,
  caller: Caller,
  envId: string,
  auditId: string,
  inventoryContinuationToken?: string,
): Promise<AuditReport> {
  await requireAuditor(deps, caller, envId);
  const audits = deps.audits;
  const got = await audits.getRun(envId, auditId);
  if (!got) throw notFound(`audit ${auditId} was not found in environment ${envId}`);
  const r = got.run;
  const [found, inventory] = await Promise.all([
    audits.findings(envId, auditId, r.chunks),
    inventoryPage(deps, r, inventoryContinuationToken),
  ]);
  const findings = found.sort(compareFindings);
  return {
    auditId: r.auditId,
    envId: r.envId,
    trigger: r.trigger,
    status: r.status,
    createdAt: r.createdAt,
    ...(r.startedAt ? { startedAt: r.startedAt } : {}),
    ...(r.finishedAt ? { finishedAt: r.finishedAt } : {}),
    stats: r.stats,
    ...(r.error ? { error: r.error } : {}),
    findings,
    inventory,
  };
}

/**
 * Findings as CSV (RFC 4180): every field quoted, quotes doubled, and a field that a spreadsheet
 * would take for a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) prefixed with
 * `'` so it stays text.
 */
export function findingsCsv(findings: readonly Finding[]): string {
  const cell = (v: string | undefined) => {
    const s = v ?? "";
    const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
    return `"${safe.replace(/"/g, '""')}"`;
  };
  const lines = [["rule", "severity", "resourceId", "principalId", "detail"].map(cell).join(",")];
  for (const f of findings) lines.push([f.rule, f.severity, f.resourceId, f.principalId, f.detail].map(cell).join(","));
  return lines.join("\r\n") + "\r\n";
}
