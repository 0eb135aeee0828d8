import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../support/stack.js";
import { waitForMail } from "../support/mail.js";
import { expectStatus, newWorld } from "../support/world.js";

// A real browser (Debian's Chromium through playwright-core, as test/browser/invitations.test.ts):
// from the mail sink's page, follow a claim link, claim, land on the resource in the product.

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

describe.skipIf(!haveChromium)("claim links in a browser", () => {
  let stack: Stack;
  let context: BrowserContext;
  let profile: string;
  const cspViolations: string[] = [];

  beforeAll(async () => {
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

  it("follows the claim link from the sink: refused while the candidate can't own, then claimed and on the process analytics", async () => {
    const w = await newWorld(stack);
    await w.user("admin", { roles: ["SystemAdministrator"] });
    await w.user("leaver");
    // A co-owner without a maker role: passed over as successor, so the process is left ownerless.
    await w.user("cora", { roles: ["BasicUser"], displayName: "Cora Candidate" });
    const p = await w.resource("leaver", { kind: "processMining", displayName: "Quarterly close" });
    expect((await w.share("leaver", p, "coOwner", [{ type: "user", id: w.id("cora") }])).status).toBe(201);
    await expectStatus(stack, 200, "POST", `/api/environments/${w.envId}/offboardings`, {
      token: await w.token("admin"),
      body: { userId: w.id("leaver") },
    });
    await waitForMail(stack, w.email("cora"), 1);

    const page = await context.newPage();
    watch(page);
    await page.goto(`${stack.sink.url}/`);
    await page
      .locator(`[data-testid=message]`, { hasText: w.email("cora") })
      .getByRole("link")
      .click();
    await expect.poll(() => page.url()).toContain("/messages/");
    expect(await page.getByTestId("subject").textContent()).toContain('"Quarterly close" has no owner: claim it');
    await page.locator(`[data-testid=email-link][href^="${stack.baseUrl}/api/claims/"]`).click();
    await page.waitForURL(/\/api\/claims\/[^/]+$/);
    const link = page.url();
    const main = page.locator("main");
    // Not a maker yet: the page says why, with no button to press.
    await expect.poll(() => main.getAttribute("data-outcome")).toBe("notEligible");
    expect(await main.textContent()).toMatch(/hold BasicUser in environment .*EnvironmentMaker/);
    expect(await page.getByRole("button").count()).toBe(0);

    // An admin gives her the role; the same link now claims and lands on the product.
    await w.updateUser("cora", { roles: ["EnvironmentMaker"] });
    await page.goto(link);
    await expect.poll(() => main.getAttribute("data-outcome")).toBe("claim");
    expect(await main.textContent()).toContain("Hello Cora Candidate,");
    await page.getByRole("button", { name: "Claim and open" }).click();
    const analytics = `${stack.sink.url}/app/environments/${w.envId}/resources/${p}/analytics`;
    await page.waitForURL(analytics);
    expect(await page.getByTestId("app-view").textContent()).toBe(`Process analytics for resource ${p}`);

    // Back on the link: it says she owns it now.
    await page.goto(link);
    await expect.poll(() => main.getAttribute("data-outcome")).toBe("claimedByYou");
    const shares = await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/resources/${p}/shares`, {
      token: w.adminToken,
    });
    expect((shares.json as { ownerId: string }).ownerId).toBe(w.id("cora"));
    expect(cspViolations).toEqual([]);
    await page.close();
  });
});
