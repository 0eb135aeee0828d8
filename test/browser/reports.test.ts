import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../support/stack.js";
import { waitForSubject } from "../support/mail.js";
import { expectStatus, finishedAudit, newWorld } from "../support/world.js";

// A real browser (Debian's Chromium through playwright-core, as test/browser/claims.test.ts): from
// the mail sink's page, open an audit's report link, see its charts, trend and inventory, filter the
// findings with the form. Full-page screenshots go to test-results/screenshots/.

const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const haveChromium = existsSync(chromiumPath);
if (!haveChromium && process.env.CI)
  throw new Error(`the browser tests need Chromium at ${chromiumPath} (apt-get install -y chromium)`);
if (!haveChromium) console.warn(`SKIPPED browser tests: no Chromium at ${chromiumPath}; CI is not set`);

const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const screenshots = join(process.cwd(), "test-results", "screenshots");

describe.skipIf(!haveChromium)("audit report pages in a browser", () => {
  let stack: Stack;
  let context: BrowserContext;
  let profile: string;
  const cspViolations: string[] = [];

  beforeAll(async () => {
    mkdirSync(screenshots, { recursive: true });
    stack = await startStack();
    profile = mkdtempSync(join(tmpdir(), "chromium-profile-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumArgs,
    });
  });
  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await stack?.stop();
  });

  const watch = (page: Page) =>
    page.on("console", (m) => {
      if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
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

    const page = await context.newPage();
    watch(page);
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
    await page.screenshot({ path: join(screenshots, "report-desktop.png"), fullPage: true });

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
    await page.screenshot({ path: join(screenshots, "report-filtered.png"), fullPage: true });

    // On a phone: the chart fits the screen and the page doesn't scroll sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(link);
    const phoneBox = await page.getByRole("img", { name: /^Findings per rule:/ }).boundingBox();
    expect(phoneBox!.width).toBeLessThanOrEqual(390);
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(screenshots, "report-phone.png"), fullPage: true });

    // A forged link: the page says so.
    await page.goto(`${link.slice(0, -6)}AAAAAA`);
    expect(await page.locator("h1").textContent()).toBe("This report link is not valid");
    await page.screenshot({ path: join(screenshots, "report-invalid.png"), fullPage: true });
    expect(cspViolations).toEqual([]);
  });
});
