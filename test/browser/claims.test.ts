import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveChromium, openBrowser, type TestBrowser } from "../support/browser.js";
import { startStack, type Stack } from "../support/stack.js";
import { waitForMail } from "../support/mail.js";
import { expectStatus, newWorld } from "../support/world.js";

// A real browser (Debian's Chromium through playwright-core, test/support/browser.ts):
// from the mail sink's page, follow a claim link, claim, land on the resource in the product.

describe.skipIf(!haveChromium)("claim links in a browser", () => {
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

    const page = await browser.context.newPage();
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
    expect(browser.cspViolations).toEqual([]);
    await page.close();
  });
});
