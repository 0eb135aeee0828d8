import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signReportToken } from "../../shared/reports/token.js";
import { startStack, type Stack } from "../support/stack.js";
import { mailTo } from "../support/mail.js";
import { eventually } from "../support/poll.js";
import { expectStatus, finishedAudit, newWorld } from "../support/world.js";

/** The audit report page (docs/reports.md) through HTTP: from the email in the mail sink, with no bearer token. */
describe("audit report pages, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  /** The report link in the email of one audit (its plain text names the audit's API route). */
  const reportLinkOf = (address: string, envId: string, auditId: string) =>
    eventually(`the report email of ${auditId}`, () => {
      const mail = mailTo(stack, address).find((m) => m.plainText.includes(`/environments/${envId}/audits/${auditId}`));
      return mail && /https?:\/\/\S+\/api\/reports\/[\w.-]+/.exec(mail.plainText)?.[0];
    });

  /** The findings section of a page. */
  const findingsOf = (html: string) =>
    html.slice(html.indexOf('<h2 id="findings">'), html.indexOf('<h2 id="inventory">'));

  const get = async (url: string) => {
    const res = await fetch(url, { redirect: "manual" });
    return { status: res.status, headers: res.headers, text: await res.text() };
  };

  it("shows the summary, charts, trend, inventory and filtered findings, and the CSV, from the emailed link", async () => {
    const w = await newWorld(stack);
    await w.user("admin", { roles: ["SystemAdministrator"] });
    const maker = await w.user("maker");
    await w.user("u2");
    await w.user("guest", { userType: "guest" });
    const path = (r: string) => `/api/environments/${w.envId}/resources/${r}`;
    const put = (r: string, body: Record<string, unknown>) =>
      expectStatus(stack, 201, "PUT", path(r), { token: w.adminToken, body: { creatorId: maker, ...body } });
    await put("p-guest", { kind: "processMining", displayName: "Invoices <2026>" });
    await put("p-clean", { kind: "processMining", displayName: "Clean" });
    const adminToken = await w.token("admin");
    const first = await finishedAudit(stack, w.envId, adminToken);
    await expectStatus(stack, 201, "POST", `${path("p-guest")}/shares`, {
      token: await w.token("maker"),
      body: { role: "coOwner", principals: [{ type: "user", id: w.id("guest") }], sendInvitation: false },
    });
    await expectStatus(stack, 201, "POST", `${path("p-clean")}/shares`, {
      token: await w.token("maker"),
      body: { role: "viewer", principals: [{ type: "user", id: w.id("u2") }], sendInvitation: false },
    });
    const second = await finishedAudit(stack, w.envId, adminToken);
    expect(second.findings.length).toBeGreaterThan(first.findings.length);

    const link = await reportLinkOf(w.email("admin"), w.envId, second.auditId);
    expect(link.startsWith(`${stack.baseUrl}/api/reports/`)).toBe(true);
    const page = await get(link);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/^default-src 'none'; style-src 'sha256-/);
    expect(page.headers.get("cache-control")).toBe("no-store");
    const html = page.text;
    // The summary.
    expect(html).toContain(`<dd data-field="audit">${second.auditId}</dd>`);
    expect(html).toContain('<dd data-field="resources">2</dd>');
    expect(html).toContain(`<dd data-field="findings">${second.findings.length}</dd>`);
    expect(html).toContain('<dd data-field="trigger">on demand</dd>');
    // Findings per rule: the chart and its numbers.
    expect(html).toMatch(/<svg id="rules-chart" role="img" aria-labelledby="rules-chart-title"/);
    expect(html).toContain("Guest owners 1");
    // The trend of both audits, this one last.
    expect(html).toMatch(/<svg id="trend-chart" role="img"/);
    expect(html).toContain("<caption>Findings in the last 2 audits</caption>");
    expect(html).toMatch(
      new RegExp(`<td class="n">${first.findings.length}</td></tr>\\n<tr><td>[^<]+ \\(this audit\\)`),
    );
    // The inventory: each resource with its owners, escaped.
    expect(html).toContain("<caption>Resources and their owners, page 1 of 1</caption>");
    expect(html).toContain("Invoices &lt;2026&gt;");
    expect(html).toContain(`${w.id("guest")} <span class="small">(co-owner)</span>`);
    expect(html).toContain(`${maker} <span class="small">(owner)</span>`);
    // A viewer is no owner.
    expect(html).not.toContain(`${w.id("u2")} <span`);
    expect(html).not.toMatch(/<script|style="/);

    // The filter: a GET of the same page.
    const high = second.findings.filter((f) => f.severity === "high");
    const filtered = await get(`${link}?rule=&severity=high`);
    expect(filtered.status).toBe(200);
    const severitiesShown = [...findingsOf(filtered.text).matchAll(/<td><span class="(high|medium|low)">/g)].map(
      (m) => m[1],
    );
    expect(severitiesShown).toEqual(high.map(() => "high"));
    expect(filtered.text).toContain('<option value="high" selected>high</option>');
    const byRule = await get(`${link}?rule=guestOwner`);
    expect(
      [...findingsOf(byRule.text).matchAll(/<td><span class="\w+">\w+<\/span><\/td><td>([^<]+)<\/td>/g)].map(
        (m) => m[1],
      ),
    ).toEqual(["Guest owners"]);

    // The CSV, with the same filter.
    const csv = await get(`${link}/findings.csv?severity=high`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    const lines = csv.text.trimEnd().split("\r\n");
    expect(lines[0]).toBe('"rule","severity","resourceId","principalId","detail"');
    expect(lines.slice(1).map((l) => l.split(",")[1])).toEqual(high.map(() => '"high"'));
    const all = await get(`${link}/findings.csv`);
    expect(all.text.trimEnd().split("\r\n")).toHaveLength(second.findings.length + 1);

    // The JSON report gains the inventory; v1 fields are unchanged.
    const json = (
      await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/audits/${second.auditId}`, {
        token: adminToken,
      })
    ).json as {
      findings: unknown[];
      inventory: { items: { resourceId: string; owners: { principalId: string }[] }[]; continuationToken?: string };
    };
    expect(json.findings).toHaveLength(second.findings.length);
    expect(json.inventory.items.map((i) => i.resourceId).sort()).toEqual(["p-clean", "p-guest"]);
    expect(json.inventory.continuationToken).toBeUndefined();
    const bad = await stack.api(
      "GET",
      `/api/environments/${w.envId}/audits/${second.auditId}?inventoryContinuationToken=nope`,
      { token: adminToken },
    );
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toContain("query.inventoryContinuationToken");
  });

  it("answers a forged link 400, an expired one 410, an unknown audit 404 and a bad filter 400, each a page", async () => {
    const w = await newWorld(stack);
    await w.user("admin", { roles: ["SystemAdministrator"] });
    const { auditId } = await finishedAudit(stack, w.envId, await w.token("admin"));
    const link = await reportLinkOf(w.email("admin"), w.envId, auditId);
    const token = link.slice(link.lastIndexOf("/") + 1);
    const [h, p, s] = token.split(".");
    const forged = await get(`${stack.baseUrl}/api/reports/${h}.${p}.${s!.slice(0, -4)}AAAA`);
    expect(forged.status).toBe(400);
    expect(forged.text).toContain("This report link is not valid");
    expect((await get(`${stack.baseUrl}/api/reports/%E0%A4%A`)).status).toBe(400);
    expect((await get(`${stack.baseUrl}/api/reports/${"x".repeat(5000)}`)).status).toBe(400);
    const key = stack.settings.INVITATION_SIGNING_KEY!;
    const past = new Date(Date.now() - 40 * 86_400_000);
    const expired = await signReportToken(
      key,
      { envId: w.envId, auditId, expiresAt: new Date(+past + 86_400_000) },
      past,
    );
    const gone = await get(`${stack.baseUrl}/api/reports/${expired}`);
    expect(gone.status).toBe(410);
    expect(gone.text).toContain("This report link has expired");
    const expiredCsv = await get(`${stack.baseUrl}/api/reports/${expired}/findings.csv`);
    expect(expiredCsv.status).toBe(410);
    const unknown = await signReportToken(key, {
      envId: w.envId,
      auditId: "no-such-audit",
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    expect((await get(`${stack.baseUrl}/api/reports/${unknown}`)).status).toBe(404);
    const badFilter = await get(`${link}?severity=urgent&inventory=-3`);
    expect(badFilter.status).toBe(400);
    expect(badFilter.text).toContain("<code>severity</code>");
    expect(badFilter.text).toContain("<code>inventory</code>");
  });
});
