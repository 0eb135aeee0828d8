import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveChromium, openBrowser, screenshotPath, type TestBrowser } from "../support/browser.js";
import { startStack, type Stack } from "../support/stack.js";
import { waitForSubject } from "../support/mail.js";
import { expectStatus, finishedAudit, newWorld } from "../support/world.js";

// A real browser (Debian's Chromium through playwright-core, test/support/browser.ts): from
// the mail sink's page, open an audit's report link, see its charts, trend and inventory, filter the
// findings with the form. Full-page screenshots go to test-results/screenshots/.

describe.skipIf(!haveChromium)("audit report pages in a browser", () => {
  let stack: Stack;
  let browser: TestBrowser;

  beforeAll(async () => {
    stack = await startStack();
    browser = await openBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it("opens the report from the sink: chart, trend and inventory visible, the filter form works, on a desktop and a phone", async () => {
    const w = await newWorld(stack);
    await w.user("admin", { roles: ["SystemAdministrator"] });
    const maker = await w.user("maker");
    await w.user("guest", { userType: "guest" });
    const path = (r: string) => `/api/environments/${w.envId}/resources/${r}`;
    await expectStatus(stack, 201, "PUT", path("p-guest"), {
      token: w.adminToken,
      body: { creatorId: maker, kind: "processMining", displayName: "Invoices" },
    });
    await expectStatus(stack, 201, "PUT", path("p-other"), {
      token: w.adminToken,
      body: { creatorId: maker, kind: "taskMining", displayName: "Expenses" },
    });
    await finishedAudit(stack, w.envId, await w.token("admin"));
    await expectStatus(stack, 201, "POST", `${path("p-guest")}/shares`, {
      token: await w.token("maker"),
      body: { role: "coOwner", principals: [{ type: "user", id: w.id("guest") }], sendInvitation: false },
    });
    const { auditId, findings } = await finishedAudit(stack, w.envId, await w.token("admin"));
    await waitForSubject(stack, w.email("admin"), new RegExp(`Sharing audit: ${findings.length} finding`));

    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${stack.sink.url}/`);
    await page
      .locator(`[data-testid=message]`, { hasText: `${findings.length} finding` })
      .getByRole("link")
      .first()
      .click();
    await expect.poll(() => page.url()).toContain("/messages/");
    await page.locator(`[data-testid=email-link][href^="${stack.baseUrl}/api/reports/"]`).click();
    await page.waitForURL(/\/api\/reports\/[^/?]+$/);
    const link = page.url();

    expect(await page.title()).toBe(`Sharing audit of Env ${w.envId}`);
    expect(await page.locator('dd[data-field="audit"]').textContent()).toBe(auditId);
    const chart = page.getByRole("img", { name: /^Findings per rule:/ });
    expect(await chart.isVisible()).toBe(true);
    const box = await chart.boundingBox();
    expect(box!.width).toBeGreaterThan(300);
    expect(await chart.locator("path").count()).toBeGreaterThan(5);
    const trend = page.getByRole("img", { name: /^Findings in the last 2 audits/ });
    expect(await trend.isVisible()).toBe(true);
    const inventory = page.getByRole("table", { name: /Resources and their owners/ });
    expect(await inventory.isVisible()).toBe(true);
    expect(await inventory.locator("tbody tr").count()).toBe(2);
    expect(await inventory.textContent()).toContain("Invoices");
    expect(await inventory.textContent()).toContain(`${w.id("guest")} (co-owner)`);
    await page.screenshot({ path: screenshotPath("report-desktop"), fullPage: true });

    // The filter form: a plain GET, no script.
    await page.getByRole("combobox", { name: /^Rule/ }).selectOption("guestOwner");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/rule=guestOwner/);
    const table = page.getByRole("table", { name: /matching the filter/ });
    expect(await table.locator("tbody tr").count()).toBe(findings.filter((f) => f.rule === "guestOwner").length);
    expect(await table.locator("tbody").textContent()).toContain("Guest owners");
    expect(await page.getByRole("combobox", { name: /^Rule/ }).inputValue()).toBe("guestOwner");
    const csv = await page.locator("#csv").getAttribute("href");
    expect(csv).toMatch(/\/findings\.csv\?rule=guestOwner$/);
    await page.screenshot({ path: screenshotPath("report-filtered"), fullPage: true });

    // On a phone: the chart fits the screen and the page doesn't scroll sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(link);
    const phoneBox = await page.getByRole("img", { name: /^Findings per rule:/ }).boundingBox();
    expect(phoneBox!.width).toBeLessThanOrEqual(390);
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
    await page.screenshot({ path: screenshotPath("report-phone"), fullPage: true });

    // A forged link: the page says so.
    await page.goto(`${link.slice(0, -6)}AAAAAA`);
    expect(await page.locator("h1").textContent()).toBe("This report link is not valid");
    await page.screenshot({ path: screenshotPath("report-invalid"), fullPage: true });
    expect(browser.cspViolations).toEqual([]);
  });
});
