import { BarChart, LineChart } from "echarts/charts";
import { GridComponent } from "echarts/components";
import * as echarts from "echarts/core";
import type { EChartsCoreOption } from "echarts/core";
import { SVGRenderer } from "echarts/renderers";
import { severityColors } from "../../emails/auditReport.js";
import { escapeHtml } from "../../emails/html.js";
import type { Severity } from "../../model/audits.js";

/**
 * The report page's charts: Apache ECharts rendered to an SVG string on the server (its `ssr` mode
 * needs no DOM), so the page needs no script to show them. Only the parts used are registered.
 *
 * The page's Content-Security-Policy allows one stylesheet by its hash and no inline styles, so the
 * SVG is rewritten to carry no `style`: ECharts' `<style>` element (hover rules only, useless
 * without script) is dropped, and each `style="…"` becomes SVG presentation attributes (`font-size`,
 * `fill`, …), which CSP doesn't govern. Anything else in a style is dropped, and an SVG that still
 * holds a style, a script or a foreign object is refused rather than served.
 */
echarts.use([BarChart, LineChart, GridComponent, SVGRenderer]);

const ink = "#242424";
const grid = "#c8c6c4";

/** CSS properties ECharts writes that are also SVG presentation attributes. */
const presentation = new Set([
  "fill",
  "fill-opacity",
  "font-family",
  "font-size",
  "font-style",
  "font-weight",
  "opacity",
  "stroke",
  "stroke-dasharray",
  "stroke-linecap",
  "stroke-linejoin",
  "stroke-opacity",
  "stroke-width",
  "dominant-baseline",
  "text-anchor",
]);
const safeValue = /^[\w#.,%()\s-]+$/;

function styleToAttributes(declarations: string): string {
  return declarations
    .split(";")
    .map((d) => {
      const at = d.indexOf(":");
      if (at < 0) return "";
      const name = d.slice(0, at).trim().toLowerCase();
      const value = d.slice(at + 1).trim();
      return presentation.has(name) && safeValue.test(value) ? ` ${name}="${escapeHtml(value)}"` : "";
    })
    .join("");
}

/** An ECharts SVG made fit for the page: no style, a role, a title (the text alternative) and an id. */
export function inlineSvg(svg: string, id: string, label: string): string {
  const out = svg
    .replace(/<style\b[\s\S]*?<\/style>/gi, "")
    .replace(/\sstyle="([^"]*)"/g, (_, declarations: string) => styleToAttributes(declarations))
    .replace(/^<svg\b\s*/, `<svg id="${id}" role="img" aria-labelledby="${id}-title" focusable="false" `)
    .replace(/^(<svg[^>]*>)/, `$1<title id="${id}-title">${escapeHtml(label)}</title>`);
  if (/\sstyle=|<style|<script|<foreignObject|\son\w+=/i.test(out) || !out.startsWith(`<svg id="${id}"`))
    throw new Error("the chart's SVG holds what the page's policy would block");
  return out;
}

function render(option: EChartsCoreOption, width: number, height: number): string {
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width, height });
  try {
    chart.setOption({ animation: false, backgroundColor: "#ffffff", textStyle: { color: ink }, ...option });
    return chart.renderToSVGString();
  } finally {
    // Also stops ECharts' frame loop, which would otherwise keep the process alive.
    chart.dispose();
  }
}

export interface RuleCount {
  title: string;
  severity: Severity;
  count: number;
}

/** Findings per rule: a horizontal bar per rule, in the order given, coloured by severity. */
export function rulesChart(counts: readonly RuleCount[], label: string): string {
  const height = 50 + counts.length * 26;
  const svg = render(
    {
      // ECharts measures text roughly without a canvas: room to spare for the rules' names.
      grid: { left: 300, right: 40, top: 10, bottom: 30 },
      xAxis: { type: "value", minInterval: 1, splitLine: { lineStyle: { color: grid } }, axisLabel: { color: ink } },
      yAxis: {
        type: "category",
        inverse: true,
        data: counts.map((c) => c.title),
        axisLabel: { color: ink, width: 230, overflow: "truncate", fontSize: 12 },
      },
      series: [
        {
          type: "bar",
          silent: true,
          emphasis: { disabled: true },
          data: counts.map((c) => ({ value: c.count, itemStyle: { color: severityColors[c.severity] } })),
          label: { show: true, position: "right", color: ink },
        },
      ],
    },
    720,
    height,
  );
  return inlineSvg(svg, "rules-chart", label);
}

export interface TrendValue {
  label: string;
  findings: number;
}

/** Findings over the audits given, oldest first: a line with a point per audit. */
export function trendChart(points: readonly TrendValue[], label: string): string {
  const svg = render(
    {
      grid: { left: 50, right: 30, top: 30, bottom: 40 },
      xAxis: { type: "category", data: points.map((p) => p.label), axisLabel: { color: ink } },
      yAxis: {
        type: "value",
        minInterval: 1,
        splitLine: { lineStyle: { color: grid } },
        axisLabel: { color: ink },
      },
      series: [
        {
          type: "line",
          silent: true,
          emphasis: { disabled: true },
          data: points.map((p) => p.findings),
          color: "#0f6cbd",
          lineStyle: { width: 3 },
          symbolSize: 8,
          label: { show: true, position: "top", color: ink },
        },
      ],
    },
    720,
    280,
  );
  return inlineSvg(svg, "trend-chart", label);
}
