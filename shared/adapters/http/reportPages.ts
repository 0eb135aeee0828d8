import type { HttpResponseInit } from "@azure/functions";
import { severityColors } from "../../emails/auditReport.js";
import { escapeHtml, formatDate } from "../../emails/html.js";
import { kindNames } from "../../emails/names.js";
import { auditRules, severities, type Finding, type Severity } from "../../model/audits.js";
import { htmlPage } from "../../model/responses.js";
import { ruleTitles, severityOf } from "../../rules/audit.js";
import {
  findingChunksPerPage,
  type QueryProblem,
  type ReportFilter,
  type ReportPageModel,
  type ReportRefusal,
} from "../../usecases/audits/reportPage.js";
import { pageStyle, styledPage } from "./html.js";

/**
 * The audit report page (docs/reports.md), made as the invitation pages are (`html.ts`):
 * self-contained, every piece of data escaped, no script (the charts are SVG drawn on the server,
 * `reportCharts.ts`), a CSP that allows only this stylesheet, and a filter that is a plain GET form.
 */
const style = pageStyle(`
:root { color-scheme: light; font-family: "Segoe UI", system-ui, sans-serif; line-height: 1.5; color: #242424; background: #fff; }
body { margin: 0; padding: 1rem; }
main { max-width: 60rem; margin: 0 auto; }
h1 { font-size: 1.5rem; line-height: 1.25; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #c8c6c4; }
a { color: #0f548c; }
a:focus-visible, select:focus-visible, button:focus-visible { outline: 3px solid #000; outline-offset: 2px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
figure { margin: 1rem 0; }
figure svg { width: 100%; height: auto; display: block; border: 1px solid #e1dfdd; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #e1dfdd; vertical-align: top; }
td { overflow-wrap: anywhere; }
td.n, th.n { text-align: right; }
.high { color: ${severityColors.high}; font-weight: 600; }
.medium { color: ${severityColors.medium}; font-weight: 600; }
.low { color: ${severityColors.low}; }
form { display: flex; flex-wrap: wrap; gap: .75rem; align-items: end; margin: 1rem 0; }
label { display: flex; flex-direction: column; font-weight: 600; }
select, button { font: inherit; min-height: 2.75rem; padding: .25rem .5rem; }
label, select { max-width: 100%; }
p { overflow-wrap: anywhere; }
button { font-weight: 600; border: 0; border-radius: .35rem; background: #0f6cbd; color: #fff; padding: .5rem 1.25rem; cursor: pointer; }
nav.pager { display: flex; gap: 1rem; margin: .75rem 0; }
.small { font-size: .9rem; color: #605e5c; }
`);

const triggerNames = { request: "on demand", schedule: "scheduled" } as const;
const shortDate = (iso: string) =>
  new Date(iso).toLocaleString("en-GB", {
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    timeZone: "UTC",
  });

/** The page's own URL with some query parameters changed (empty ones left out). */
function href(base: string, params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return escapeHtml(s ? `${base}?${s}` : base);
}

const filterParams = (f: ReportFilter) => ({ rule: f.rule, severity: f.severity });

function table(caption: string, head: string[], rows: string[][], numeric: number[] = []): string {
  const th = head.map((h, i) => `<th scope="col"${numeric.includes(i) ? ' class="n"' : ""}>${h}</th>`).join("");
  const body = rows
    .map((r) => `<tr>${r.map((c, i) => `<td${numeric.includes(i) ? ' class="n"' : ""}>${c}</td>`).join("")}</tr>`)
    .join("\n");
  return `<div class="scroll"><table>\n<caption>${caption}</caption>\n<thead><tr>${th}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table></div>`;
}

const sev = (s: Severity) => `<span class="${s}">${escapeHtml(s)}</span>`;

/** The report of one audit. `token` is the link's, for the page's own links. */
export async function reportPage(model: ReportPageModel, token: string): Promise<HttpResponseInit> {
  // ECharts is loaded on the first report page, not when the app starts: importing it takes most of
  // a second, which every cold start of every function would otherwise pay.
  const { rulesChart, trendChart } = await import("./reportCharts.js");
  const base = `/api/reports/${encodeURIComponent(token)}`;
  const { run, query } = model;
  const env = escapeHtml(model.environmentName);
  const counts = [...auditRules]
    .map((rule) => ({ rule, title: ruleTitles[rule], severity: severityOf[rule], count: run.stats.byRule[rule] ?? 0 }))
    .sort((a, b) => severities.indexOf(a.severity) - severities.indexOf(b.severity) || b.count - a.count);
  const summary = [
    ["Environment", env],
    ["Audit", escapeHtml(run.auditId)],
    ["Status", escapeHtml(run.status)],
    ["Trigger", escapeHtml(triggerNames[run.trigger])],
    ["Started", run.startedAt ? escapeHtml(formatDate(run.startedAt)) : "not yet"],
    ["Finished", run.finishedAt ? escapeHtml(formatDate(run.finishedAt)) : "not yet"],
    ["Resources", String(run.stats.resources)],
    ["Grants", String(run.stats.grants)],
    ["Findings", String(run.stats.findings)],
  ]
    .map(([k, v]) => `<dt>${k}</dt><dd data-field="${k!.toLowerCase()}">${v}</dd>`)
    .join("\n");

  const rulesAlt = `Findings per rule: ${counts.map((c) => `${c.title} ${c.count}`).join("; ")}`;
  const trendAlt = `Findings in the last ${model.trend.length} audits, oldest first: ${model.trend.map((t) => `${formatDate(t.finishedAt)} ${t.findings}`).join("; ")}`;

  const trendSection =
    model.trend.length === 0
      ? `<p>The trend shows once the audit is done.</p>`
      : [
          `<figure>${trendChart(
            model.trend.map((t) => ({ label: shortDate(t.finishedAt), findings: t.findings })),
            trendAlt,
          )}</figure>`,
          table(
            `Findings in the last ${model.trend.length} audit${model.trend.length === 1 ? "" : "s"}`,
            ["Finished", "Resources", "Grants", "Findings"],
            model.trend.map((t) => [
              `${escapeHtml(formatDate(t.finishedAt))}${t.auditId === run.auditId ? " (this audit)" : ""}`,
              String(t.resources),
              String(t.grants),
              String(t.findings),
            ]),
            [1, 2, 3],
          ),
        ].join("\n");

  const option = (value: string, text: string, selected: boolean) =>
    `<option value="${escapeHtml(value)}"${selected ? " selected" : ""}>${escapeHtml(text)}</option>`;
  const filterForm = [
    `<form method="get" action="${escapeHtml(base)}" aria-label="Filter the findings">`,
    `<label for="rule">Rule<select id="rule" name="rule">${option("", "All rules", !query.filter.rule)}${auditRules
      .map((r) => option(r, ruleTitles[r], query.filter.rule === r))
      .join("")}</select></label>`,
    `<label for="severity">Severity<select id="severity" name="severity">${option("", "All severities", !query.filter.severity)}${severities
      .map((s) => option(s, s, query.filter.severity === s))
      .join("")}</select></label>`,
    `<input type="hidden" name="inventory" value="${model.inventory.part}">`,
    `<button type="submit">Filter</button>`,
    `</form>`,
  ].join("\n");
  const f = model.findings;
  const findingRows = f.items.map((x: Finding) => [
    sev(x.severity),
    escapeHtml(ruleTitles[x.rule]),
    escapeHtml(x.resourceId ?? ""),
    escapeHtml(x.principalId ?? ""),
    escapeHtml(x.detail),
  ]);
  const filtered = query.filter.rule || query.filter.severity;
  const findingsPager = [
    f.from > 0
      ? `<a rel="prev" href="${href(base, { ...filterParams(query.filter), findings: Math.max(f.from - findingChunksPerPage, 0), inventory: model.inventory.part })}#findings">Earlier findings</a>`
      : "",
    f.to < f.chunks
      ? `<a rel="next" href="${href(base, { ...filterParams(query.filter), findings: f.to, inventory: model.inventory.part })}#findings">More findings</a>`
      : "",
  ].filter(Boolean);
  const findingsSection = [
    filterForm,
    `<p><a id="csv" href="${href(`${base}/findings.csv`, filterParams(query.filter))}" download>Download ${filtered ? "these findings" : "all findings"} as CSV</a></p>`,
    f.chunks > f.to - f.from
      ? `<p class="small">The findings are shown a part at a time: part ${Math.floor(f.from / findingChunksPerPage) + 1} of ${Math.ceil(f.chunks / findingChunksPerPage)}, worst first within it. The CSV holds them all.</p>`
      : "",
    findingRows.length === 0
      ? `<p data-empty="findings">No findings${filtered ? " match this filter" : ""}${f.chunks > f.to - f.from ? " in this part" : ""}.</p>`
      : table(
          `${findingRows.length} finding${findingRows.length === 1 ? "" : "s"}${filtered ? " matching the filter" : ""}`,
          ["Severity", "Rule", "Resource", "Principal", "Detail"],
          findingRows,
        ),
    findingsPager.length ? `<nav class="pager" aria-label="Findings pages">${findingsPager.join("\n")}</nav>` : "",
  ]
    .filter(Boolean)
    .join("\n");

  const inv = model.inventory;
  const inventoryRows = inv.items.map((r) => [
    `${escapeHtml(r.displayName)}<br><span class="small">${escapeHtml(r.resourceId)}</span>`,
    escapeHtml(kindNames[r.kind]),
    r.owners.length === 0
      ? "none"
      : r.owners
          .map(
            (o) =>
              `${escapeHtml(o.principalId)} <span class="small">(${o.role === "owner" ? "owner" : "co-owner"}${o.principalType === "user" ? "" : `, ${escapeHtml(o.principalType)}`})</span>`,
          )
          .join("<br>") +
        (r.ownerCount > r.owners.length
          ? `<br><span class="small">and ${r.ownerCount - r.owners.length} more</span>`
          : ""),
  ]);
  const inventoryPager = [
    inv.part > 0
      ? `<a rel="prev" href="${href(base, { ...filterParams(query.filter), findings: f.from, inventory: inv.part - 1 })}#inventory">Previous resources</a>`
      : "",
    inv.part + 1 < inv.parts
      ? `<a rel="next" href="${href(base, { ...filterParams(query.filter), findings: f.from, inventory: inv.part + 1 })}#inventory">More resources</a>`
      : "",
  ].filter(Boolean);
  const inventorySection =
    inv.parts === 0
      ? `<p data-empty="inventory">This audit kept no inventory.</p>`
      : [
          table(
            `Resources and their owners, page ${inv.part + 1} of ${inv.parts}`,
            ["Resource", "Kind", "Owners"],
            inventoryRows,
          ),
          inventoryPager.length
            ? `<nav class="pager" aria-label="Inventory pages">${inventoryPager.join("\n")}</nav>`
            : "",
        ]
          .filter(Boolean)
          .join("\n");

  const body = [
    `<h1>Sharing audit of ${env}</h1>`,
    `<section aria-labelledby="summary"><h2 id="summary">Summary</h2>\n<dl>\n${summary}\n</dl></section>`,
    `<section aria-labelledby="by-rule"><h2 id="by-rule">Findings per rule</h2>\n<figure>${rulesChart(counts, rulesAlt)}</figure>\n${table(
      "Findings per rule, worst first",
      ["Rule", "Severity", "Findings"],
      counts.map((c) => [escapeHtml(c.title), sev(c.severity), String(c.count)]),
      [2],
    )}</section>`,
    `<section aria-labelledby="trend"><h2 id="trend">Trend</h2>\n${trendSection}</section>`,
    `<section aria-labelledby="findings"><h2 id="findings">Findings</h2>\n${findingsSection}</section>`,
    `<section aria-labelledby="inventory"><h2 id="inventory">Inventory</h2>\n${inventorySection}</section>`,
    `<p class="small">This link works until ${escapeHtml(formatDate(model.linkExpiresAt.toISOString()))}. The report is also in the API: GET /api/environments/${escapeHtml(model.envId)}/audits/${escapeHtml(run.auditId)} (JSON, or CSV with Accept: text/csv).</p>`,
  ].join("\n");
  return styledPage(style, 200, `Sharing audit of ${model.environmentName}`, body, "report");
}

function messagePage(status: number, title: string, text: string, outcome: string): HttpResponseInit {
  return styledPage(style, status, title, `<h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(text)}</p>`, outcome);
}

/**
 * The pages a report route answers with other than its own (the page, the CSV), for the OpenAPI
 * document: the refusals below, and `errorPage`'s for busy storage and faults.
 */
export const reportRefusalResponses = {
  400: { description: "not a valid link, or a bad filter (says which)", contentType: "text/html", schema: htmlPage },
  404: { description: "the audit no longer exists", contentType: "text/html", schema: htmlPage },
  410: { description: "the link has expired", contentType: "text/html", schema: htmlPage },
  503: { description: "storage is busy; try again in a moment", contentType: "text/html", schema: htmlPage },
  500: { description: "an unexpected error, logged", contentType: "text/html", schema: htmlPage },
};

/** The page for a report link that doesn't work, with the status that says why. */
export function reportRefusalPage(refusal: ReportRefusal): HttpResponseInit {
  switch (refusal.reason) {
    case "invalid":
      return messagePage(
        400,
        "This report link is not valid",
        "The link may have been copied incompletely or changed. Open it again from the audit email.",
        "invalid",
      );
    case "expired":
      return messagePage(
        410,
        "This report link has expired",
        "Report links work for a limited time. Run a new audit, or read this one through the API.",
        "expired",
      );
    case "notFound":
      return messagePage(404, "This audit was not found", "It may have been deleted with its environment.", "notFound");
  }
}

/** A bad filter or page number in the page's query: 400, naming each. */
export function reportQueryPage(problems: readonly QueryProblem[]): HttpResponseInit {
  const items = problems.map((p) => `<li><code>${escapeHtml(p.field)}</code> ${escapeHtml(p.message)}</li>`).join("\n");
  return styledPage(
    style,
    400,
    "This report address is not valid",
    `<h1>This report address is not valid</h1>\n<ul>\n${items}\n</ul>\n<p>Open the link from the audit email again.</p>`,
    "badQuery",
  );
}
