import type { AuditRule, Finding, Severity } from "../model/audits.js";
import { buttonLink, emailDocument, escapeHtml, formatDate, oneLine } from "./html.js";
import type { RenderedEmail } from "./rendered.js";

/** What the audit report email summarizes. */
export interface AuditReportEmailInput {
  environmentName: string;
  auditId: string;
  trigger: "request" | "schedule";
  startedAt: string;
  finishedAt: string;
  resources: number;
  grants: number;
  /** Every rule with its count, already in report order (worst first). */
  counts: { rule: AuditRule; title: string; severity: Severity; count: number }[];
  /** The worst findings, worst first; a handful. */
  worst: Finding[];
  totalFindings: number;
  /** `{PUBLIC_BASE_URL}/api/reports/{token}`: the report page, signed (docs/reports.md). */
  link: string;
  /** `{PUBLIC_BASE_URL}/api/environments/{env}/audits/{id}`: the report in the API (JSON, or CSV with `Accept: text/csv`). */
  apiLink: string;
}

/** Severity colours of the report email and the report page (text on white, 4.5:1 or more). */
export const severityColors: Record<Severity, string> = { high: "#a4262c", medium: "#8a5700", low: "#605e5c" };

/**
 * The compliance report sent to an environment's admins after each audit (sharing-rules.md,
 * "Compliance audits and alerts"): counts per rule, worst first, the worst findings, and a link to
 * the whole report.
 */
export function renderAuditReportEmail(input: AuditReportEmailInput): RenderedEmail {
  const env = oneLine(input.environmentName, 100);
  const subject = oneLine(
    input.totalFindings === 0
      ? `[${env}] Sharing audit: no findings`
      : `[${env}] Sharing audit: ${input.totalFindings} finding${input.totalFindings === 1 ? "" : "s"}`,
    250,
  );
  const when = `${input.trigger === "schedule" ? "The scheduled" : "An on-demand"} sharing audit of "${env}" ran from ${formatDate(input.startedAt)} to ${formatDate(input.finishedAt)} and checked ${input.resources} resources and ${input.grants} grants.`;
  const why = "You are receiving this because you are a system administrator of this environment.";
  const textCounts = input.counts.map((c) => `  ${String(c.count).padStart(6)}  ${c.severity.padEnd(6)}  ${c.title}`);
  const textWorst = input.worst.map((f) => `  - [${f.severity}] ${oneLine(f.detail, 300)}`);
  const plainText = [
    when,
    "",
    "Findings per rule, worst first:",
    ...textCounts,
    ...(input.worst.length > 0 ? ["", "The worst findings:", ...textWorst] : []),
    "",
    `The full report, with charts, the inventory and a CSV download: ${input.link}`,
    `In the API (JSON, or CSV with Accept: text/csv): ${input.apiLink}`,
    "",
    why,
    "",
  ].join("\n");

  const cell = "padding:4px 8px;border-bottom:1px solid #edebe9;text-align:left;";
  const rows = input.counts
    .map(
      (c) =>
        `<tr><td style="${cell}text-align:right;font-weight:600;">${c.count}</td><td style="${cell}color:${severityColors[c.severity]};">${escapeHtml(c.severity)}</td><td style="${cell}">${escapeHtml(c.title)}</td></tr>`,
    )
    .join("\n");
  const worst = input.worst
    .map(
      (f) =>
        `<li><span style="color:${severityColors[f.severity]};">[${escapeHtml(f.severity)}]</span> ${escapeHtml(oneLine(f.detail, 300))}</li>`,
    )
    .join("\n");
  const html = emailDocument(
    subject,
    [
      `<p style="font-weight:600;">Sharing audit of ${escapeHtml(env)}: ${input.totalFindings} finding${input.totalFindings === 1 ? "" : "s"}</p>`,
      `<p>${escapeHtml(when)}</p>`,
      `<table style="border-collapse:collapse;margin:16px 0;font-size:14px;"><thead><tr><th style="${cell}">Count</th><th style="${cell}">Severity</th><th style="${cell}">Rule</th></tr></thead><tbody>\n${rows}\n</tbody></table>`,
      ...(input.worst.length > 0
        ? [`<p style="font-weight:600;">The worst findings</p>`, `<ul style="font-size:14px;">\n${worst}\n</ul>`]
        : []),
      buttonLink(input.link, "Open the full report"),
      `<p style="font-size:14px;color:#605e5c;">${escapeHtml(why)} The report is also in the API at ${escapeHtml(input.apiLink)} (JSON, or CSV with Accept: text/csv).</p>`,
    ].join("\n"),
  );
  return { subject, plainText, html };
}
