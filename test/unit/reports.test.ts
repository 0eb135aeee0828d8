import { describe, expect, it } from "vitest";
import { memoryCaps } from "../support/memoryCaps.js";
import { signClaimToken } from "../../shared/claims/token.js";
import { reportLink, signReportToken, verifyReportToken } from "../../shared/reports/token.js";
import { inlineSvg, rulesChart, trendChart } from "../../shared/adapters/http/reportCharts.js";
import { reportPage, reportQueryPage, reportRefusalPage } from "../../shared/adapters/http/reportPages.js";
import { openReport, parseReportQuery, type ReportPageModel } from "../../shared/usecases/audits/reportPage.js";
import { emptyStats, inventoryItem } from "../../shared/usecases/audits/run.js";
import type { AuditRun } from "../../shared/model/audits.js";
import type { Resource } from "../../shared/model/records.js";

const key = "r".repeat(40);
const day = 86_400_000;

describe("report tokens", () => {
  it("name the audit, expire, and are refused when forged or of another kind", async () => {
    const now = new Date("2026-01-01T00:00:00Z");
    const token = await signReportToken(key, { envId: "e1", auditId: "a1", expiresAt: new Date(+now + day) }, now);
    expect(await verifyReportToken(key, token, now)).toMatchObject({
      ok: true,
      claims: { envId: "e1", auditId: "a1" },
    });
    expect(await verifyReportToken(key, token, new Date(+now + 2 * day))).toEqual({ ok: false, reason: "expired" });
    expect(await verifyReportToken("x".repeat(40), token, now)).toEqual({ ok: false, reason: "invalid" });
    const [h, p, s] = token.split(".");
    expect(await verifyReportToken(key, `${h}.${p}.${s!.slice(0, -2)}AA`, now)).toEqual({
      ok: false,
      reason: "invalid",
    });
    expect(await verifyReportToken(key, "not a token", now)).toEqual({ ok: false, reason: "invalid" });
    const claim = await signClaimToken(
      key,
      { envId: "e1", resourceId: "r1", claimId: "c1", userId: "a1", expiresAt: new Date(+now + day) },
      now,
    );
    expect(await verifyReportToken(key, claim, now)).toEqual({ ok: false, reason: "invalid" });
  });

  it("make a link valid REPORT_TTL_DAYS from the audit's finish, the same each time", async () => {
    const audit = { envId: "e1", auditId: "a1", finishedAt: "2026-01-01T00:00:00.000Z" };
    const a = await reportLink(key, "https://api.test/", audit, 30);
    expect(a).toBe(await reportLink(key, "https://api.test/", audit, 30));
    expect(a).toMatch(/^https:\/\/api\.test\/api\/reports\/[\w.-]+$/);
    const token = a.split("/").pop()!;
    const check = await verifyReportToken(key, token, new Date("2026-01-30T00:00:00Z"));
    expect(check.ok && check.claims.expiresAt.toISOString()).toBe("2026-01-31T00:00:00.000Z");
    expect(await verifyReportToken(key, token, new Date("2026-01-31T00:00:01Z"))).toEqual({
      ok: false,
      reason: "expired",
    });
  });
});

describe("report charts", () => {
  it("are SVG with a role and a text alternative, and nothing the page's CSP would block", () => {
    const svg = rulesChart(
      [
        { title: "Guest owners", severity: "high", count: 3 },
        { title: "Grants to disabled users", severity: "medium", count: 7 },
      ],
      "Findings per rule: Guest owners 3; Grants to disabled users 7",
    );
    expect(svg).toMatch(/^<svg id="rules-chart" role="img" aria-labelledby="rules-chart-title"/);
    expect(svg).toContain(
      '<title id="rules-chart-title">Findings per rule: Guest owners 3; Grants to disabled users 7</title>',
    );
    expect(svg).not.toMatch(/style|<script/i);
    // Each bar in its severity's colour, the counts as labels.
    expect(svg).toContain('fill="#a4262c"');
    expect(svg).toContain('fill="#8a5700"');
    expect(svg).toMatch(/>7<\/text>/);
    const trend = trendChart(
      [
        { label: "1 Dec", findings: 4 },
        { label: "2 Dec", findings: 9 },
      ],
      "trend",
    );
    expect(trend).toMatch(/^<svg id="trend-chart" role="img"/);
    expect(trend).toContain(">9</text>");
    expect(trend).not.toMatch(/style|<script/i);
  });

  it("turn styles into presentation attributes and refuse anything else", () => {
    expect(
      inlineSvg('<svg width="1"><text style="font-size:12px;fill:#000;cursor:pointer">x</text></svg>', "c", "t"),
    ).toBe(
      '<svg id="c" role="img" aria-labelledby="c-title" focusable="false" width="1"><title id="c-title">t</title><text font-size="12px" fill="#000">x</text></svg>',
    );
    expect(() => inlineSvg("<svg><script>alert(1)</script></svg>", "c", "t")).toThrow();
    expect(() => inlineSvg('<svg><a onclick="x()"></a></svg>', "c", "t")).toThrow();
    expect(inlineSvg('<svg><text style="fill:url(javascript:x)">x</text></svg>', "c", "<t>")).not.toMatch(
      /javascript|<t>/,
    );
  });
});

function model(overrides: Partial<ReportPageModel> = {}): ReportPageModel {
  const stats = { ...emptyStats(), resources: 2, grants: 5, findings: 1 };
  stats.byRule.guestOwner = 1;
  return {
    envId: "e1",
    environmentName: "Fin<script>ance",
    run: {
      auditId: "a1",
      trigger: "schedule",
      status: "done",
      createdAt: "2026-01-01T00:00:00.000Z",
      startedAt: "2026-01-01T00:00:00.000Z",
      finishedAt: "2026-01-01T00:01:00.000Z",
      stats,
    },
    trend: [
      {
        auditId: "a0",
        finishedAt: "2025-12-31T00:01:00.000Z",
        resources: 2,
        grants: 4,
        findings: 3,
        byRule: stats.byRule,
      },
      {
        auditId: "a1",
        finishedAt: "2026-01-01T00:01:00.000Z",
        resources: 2,
        grants: 5,
        findings: 1,
        byRule: stats.byRule,
      },
    ],
    inventory: {
      items: [
        {
          resourceId: "r1",
          kind: "cloudFlow",
          displayName: "Pay <b>roll</b>",
          owners: [{ principalType: "user", principalId: "u1", role: "owner" }],
          ownerCount: 1,
        },
      ],
      part: 0,
      parts: 3,
    },
    findings: {
      items: [{ rule: "guestOwner", severity: "high", resourceId: "r1", principalId: "g1", detail: "guest <owner>" }],
      from: 0,
      to: 2,
      chunks: 2,
    },
    query: { filter: { severity: "high" }, findingsPart: 0, inventoryPart: 0 },
    linkExpiresAt: new Date("2026-01-31T00:01:00.000Z"),
    ...overrides,
  };
}

describe("the report page", () => {
  it("is accessible HTML under a CSP with no inline script or style, everything escaped", async () => {
    const res = await reportPage(model(), "tok.en.x");
    const html = String(res.body);
    const csp = (res.headers as Record<string, string>)["content-security-policy"]!;
    expect(res.status).toBe(200);
    expect(csp).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; form-action 'self'/);
    expect(csp).not.toContain("unsafe");
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toContain("<title>Sharing audit of Fin&lt;script&gt;ance</title>");
    expect(html).not.toMatch(/<script|style="/);
    expect(html).toContain("Pay &lt;b&gt;roll&lt;/b&gt;");
    expect(html).toContain("guest &lt;owner&gt;");
    for (const h of ["Summary", "Findings per rule", "Trend", "Findings", "Inventory"])
      expect(html).toContain(`>${h}</h2>`);
    expect(html).toContain("<caption>Findings in the last 2 audits</caption>");
    expect(html).toContain("<caption>Resources and their owners, page 1 of 3</caption>");
    expect(html).toContain('<label for="severity">Severity<select id="severity" name="severity">');
    expect(html).toContain('<option value="high" selected>high</option>');
    // The CSV link and the next inventory page keep the filter.
    expect(html).toContain('href="/api/reports/tok.en.x/findings.csv?severity=high"');
    expect(html).toContain('href="/api/reports/tok.en.x?severity=high&amp;findings=0&amp;inventory=1#inventory"');
    expect(html).toContain('<svg id="rules-chart" role="img"');
    expect(html).toContain('<svg id="trend-chart" role="img"');
  });

  it("says why a link or a query doesn't work, with 400, 404 or 410", () => {
    expect(reportRefusalPage({ reason: "invalid" }).status).toBe(400);
    expect(String(reportRefusalPage({ reason: "invalid" }).body)).toContain("This report link is not valid");
    expect(reportRefusalPage({ reason: "expired" }).status).toBe(410);
    expect(reportRefusalPage({ reason: "notFound" }).status).toBe(404);
    const bad = parseReportQuery({ rule: "nope", severity: "urgent", findings: "-1", inventory: "x" });
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.problems.map((p) => p.field)).toEqual(["rule", "severity", "findings", "inventory"]);
    const page = reportQueryPage(bad.problems);
    expect(page.status).toBe(400);
    expect(String(page.body)).toContain("<code>severity</code> must be high, medium or low");
    expect(parseReportQuery({ rule: "", severity: "low", findings: "2" })).toEqual({
      ok: true,
      query: { filter: { rule: undefined, severity: "low" }, findingsPart: 2, inventoryPart: 0 },
    });
  });
});

describe("the trend rows", () => {
  const run = (auditId: string, finishedAt: string, findings: number): AuditRun => ({
    auditId,
    envId: "e1",
    trigger: "schedule",
    requestedBy: "system",
    status: "done",
    createdAt: finishedAt,
    startedAt: finishedAt,
    finishedAt,
    phase: "report",
    stats: { ...emptyStats(), findings },
    chunks: 0,
    inventoryChunks: 0,
    top: [],
    attempts: 0,
  });

  it("are written once however often the finish is repeated, and read newest 12 up to the audit in one query", async () => {
    const store = new (await import("../../shared/adapters/memory/memoryRowStore.js")).MemoryRowStore();
    const { caps } = memoryCaps(store);
    const runs = Array.from({ length: 15 }, (_, i) =>
      run(`a${String(i).padStart(2, "0")}`, new Date(Date.UTC(2026, 0, 1 + i)).toISOString(), i),
    );
    for (const r of runs) {
      await caps.audits.create(r);
      await caps.audits.putTrend(r);
      await caps.audits.putTrend(r); // a rerun of the finishing step
    }
    const before = store.requests;
    const trend = await caps.audits.trend("e1", { finishedAt: runs[13]!.finishedAt!, auditId: "a13" });
    expect(store.requests - before).toBe(1);
    expect(trend.map((t) => t.auditId)).toEqual(
      Array.from({ length: 12 }, (_, i) => `a${String(13 - i).padStart(2, "0")}`),
    );
    expect(trend[0]!.findings).toBe(13);
    // The page reads it for its audit: oldest first, ending with it.
    const token = await signReportToken(key, { envId: "e1", auditId: "a02", expiresAt: new Date(Date.now() + day) });
    const opened = await openReport(caps, key, token, { filter: {}, findingsPart: 0, inventoryPart: 0 });
    expect(opened.ok && opened.page.trend.map((t) => t.auditId)).toEqual(["a00", "a01", "a02"]);
    const missing = await signReportToken(key, { envId: "e1", auditId: "gone", expiresAt: new Date(Date.now() + day) });
    expect(await openReport(caps, key, missing, { filter: {}, findingsPart: 0, inventoryPart: 0 })).toEqual({
      ok: false,
      reason: "notFound",
    });
  });

  it("inventory items list owners and co-owners, the primary owner first", () => {
    const resource = { resourceId: "r1", kind: "cloudFlow", displayName: "F", ownerId: "u2" } as Resource;
    const grant = (principalId: string, role: "owner" | "coOwner" | "viewer") => ({
      principalType: "user" as const,
      principalId,
      role,
      grantedBy: "x",
      grantedAt: "2026-01-01T00:00:00.000Z",
    });
    const item = inventoryItem({
      resource,
      grants: [grant("u1", "owner"), grant("u2", "owner"), grant("u0", "coOwner"), grant("u3", "viewer")],
    });
    expect(item.owners.map((o) => `${o.principalId}:${o.role}`)).toEqual(["u2:owner", "u1:owner", "u0:coOwner"]);
    expect(item.ownerCount).toBe(3);
  });
});
