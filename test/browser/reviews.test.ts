import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveChromium, openBrowser, screenshotPath, type TestBrowser } from "../support/browser.js";
import { endReviewNow, openOwnerReview, reviewItems, reviewLink, reviewLinkFromMail } from "../support/reviewPages.js";
import { startStack, type Stack } from "../support/stack.js";
import { expectStatus, newWorld, type World } from "../support/world.js";

// A real browser (Debian's Chromium through playwright-core, test/support/browser.ts): a
// reviewer opens the link from their reviewRequest email in the mail sink, decides with the
// keyboard and the mouse, submits a plain form (no script on the page), and the decisions are in
// the API; at the review's end the runner revokes the denied grant (autoApply) and keeps the
// approved one. Forged and expired links and a post without the form's token are refused with a
// page that says so. Full-page screenshots are kept under test-results/screenshots/.
//
// The decisions test runs last: it ends the instance, after which the link only says so.

describe.skipIf(!haveChromium)("the reviewer's page in a browser", () => {
  let stack: Stack;
  let browser: TestBrowser;
  let w: World;
  let review: Awaited<ReturnType<typeof openOwnerReview>>;
  let link: string;

  beforeAll(async () => {
    stack = await startStack();
    w = await newWorld(stack);
    review = await openOwnerReview(stack, w, { justificationRequired: true, autoApply: true });
    link = await reviewLinkFromMail(stack, w.email("olga"));
    browser = await openBrowser();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  const newPage = () => browser.context.newPage();
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: screenshotPath(`reviews-${name}`), fullPage: true });
  // An item's fieldset by its person's id, which the page always shows.
  const fieldsetOf = (page: Page, name: string) => page.locator("fieldset", { hasText: w.id(name) });
  // Whether a person may view the reviewed process, by the API's check endpoint.
  const canView = async (name: string) =>
    (
      (
        await expectStatus(stack, 200, "POST", `/api/environments/${w.envId}/check`, {
          token: w.adminToken,
          body: {
            checks: [{ principalId: w.id(name), resourceId: review.resourceId, action: "processMining.viewDetails" }],
          },
        })
      ).json as { results: { allowed: boolean }[] }
    ).results[0]!.allowed;

  it("refuses a post without the form's token (with or without the cookie) with a page that says so", async () => {
    const page = await newPage();
    await page.goto(link);
    const item = await page.locator("fieldset").first().getAttribute("data-item");
    // page.request shares the browser's cookies: the cookie is there, the form's field is not.
    const withCookie = await page.request.post(link, {
      form: { [`decision.${item}`]: "dontKnow" },
      maxRedirects: 0,
    });
    expect(withCookie.status()).toBe(403);
    expect(await withCookie.text()).toContain("This form has expired or did not come from this page");
    // No cookie at all (another browser, or a cross-site post): the page, shown, says what to do.
    const noCookie = await fetch(link, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `decision.${item}=dontKnow`,
    });
    expect(noCookie.status).toBe(403);
    await page.setContent(await noCookie.text());
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe(
      "This form has expired or did not come from this page",
    );
    expect(await page.locator("main").textContent()).toContain("Open the link from your email again");
    await shot(page, "refused-no-form-token");
    const items = await reviewItems(stack, w, review.reviewId, review.instanceId);
    expect(items.some((i) => i.decision === "dontKnow")).toBe(false);
    await page.close();
  });

  it("shows a forged link's and an expired link's refusal pages", async () => {
    const page = await newPage();
    const token = link.slice(link.lastIndexOf("/") + 1);
    const forged = await page.goto(`${stack.baseUrl}/api/review-pages/${token.slice(0, -3)}abc`);
    expect(forged?.status()).toBe(400);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("This review link is not valid");
    await shot(page, "forged-link");
    // An expired link can't come from the sink (the email's link lives until the instance ends), so
    // it is signed here with an end that has passed.
    const expired = await reviewLink(
      stack,
      { envId: w.envId, ...review, userId: w.id("olga"), endsAt: new Date(Date.now() - 60_000) },
      new Date(Date.now() - 120_000),
    );
    const gone = await page.goto(expired);
    expect(gone?.status()).toBe(410);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("This review link has expired");
    await shot(page, "expired-link");
    await page.close();
  });

  it("decides two items with the keyboard and the mouse, submits without script, and at the end the denied grant is revoked and the approved one kept", async () => {
    // Both have access before the review ends: what changes below is the review's doing.
    expect(await canView("vic")).toBe(true);
    expect(await canView("gus")).toBe(true);
    const page = await newPage();
    const opened = await page.goto(link);
    expect(opened?.status()).toBe(200);
    const main = page.locator("main");
    expect(await main.getAttribute("data-outcome")).toBe("review");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Access review: Viewers of processes");
    expect(await page.locator("fieldset").count()).toBe(2);
    expect(await fieldsetOf(page, "gus").locator(".badge").textContent()).toBe("Guest");
    expect(await fieldsetOf(page, "vic").locator("dd").first().textContent()).toBe(`Vic Viewer (${w.email("vic")})`);
    await shot(page, "items");

    // On a phone: nothing wider than the screen.
    await page.setViewportSize({ width: 375, height: 800 });
    expect(await page.evaluate<boolean>("document.documentElement.scrollWidth <= window.innerWidth")).toBe(true);
    await shot(page, "items-375px");
    await page.setViewportSize({ width: 1280, height: 900 });

    // The keyboard reaches each radio group, each justification and the submit button, in that order.
    const reached: string[] = [];
    await page.locator("body").click({ position: { x: 1, y: 1 } });
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press("Tab");
      reached.push(
        await page.evaluate<string>(
          "(() => { const e = document.activeElement; return e ? `${e.tagName.toLowerCase()}:${e.getAttribute('type') ?? ''}:${e.getAttribute('name') ?? ''}` : '' })()",
        ),
      );
      if (reached.at(-1)?.startsWith("button:submit")) break;
    }
    expect(reached.filter((r) => r.startsWith("input:radio:decision."))).toHaveLength(2);
    expect(reached.filter((r) => r.startsWith("textarea::justification."))).toHaveLength(2);
    expect(reached.at(-1)).toBe("button:submit:");
    // Arrow keys choose within a group; the label names the choice.
    const vic = fieldsetOf(page, "vic");
    await vic.getByRole("radio", { name: /Approve/ }).focus();
    await page.keyboard.press("Space");
    expect(await vic.getByRole("radio", { name: /Approve/ }).isChecked()).toBe(true);
    await vic.getByLabel(/Justification \(required\)/).fill("Works on the quarterly close");

    // Deny the guest, without the required justification first: refused, the page says where.
    const gus = fieldsetOf(page, "gus");
    await gus.getByRole("radio", { name: /Deny/ }).check();
    await page.getByRole("button", { name: "Save decisions" }).click();
    await page.waitForLoadState();
    expect(await main.getAttribute("data-outcome")).toBe("refusedItems");
    expect(await gus.locator(".error").textContent()).toContain("A justification is required");
    expect(await vic.getByLabel(/Justification/).inputValue()).toBe("Works on the quarterly close");
    expect(await gus.getByRole("radio", { name: /Deny/ }).isChecked()).toBe(true);
    await shot(page, "refused-justification");

    await gus.getByLabel(/Justification/).fill("Contract ended in May");
    await page.getByRole("button", { name: "Save decisions" }).click();
    await page.waitForURL(/\?saved=2$/);
    expect(await page.getByRole("status").textContent()).toBe("Saved 2 decisions.");
    expect(await vic.locator(".current").textContent()).toContain("approved");
    expect(await gus.locator(".current").textContent()).toContain("denied");
    await shot(page, "saved");

    const items = await reviewItems(stack, w, review.reviewId, review.instanceId);
    const byPerson = Object.fromEntries(items.map((i) => [i.principal.id, i]));
    expect(byPerson[w.id("vic")]).toMatchObject({
      decision: "approve",
      justification: "Works on the quarterly close",
      decidedBy: w.id("olga"),
    });
    expect(byPerson[w.id("gus")]).toMatchObject({
      decision: "deny",
      justification: "Contract ended in May",
      decidedBy: w.id("olga"),
    });

    // The review ends (its end moved to now) and the runner applies it: gus's grant is revoked, vic's kept.
    const done = await endReviewNow(stack, w, review.reviewId, review.instanceId);
    expect(done).toMatchObject({ status: "applied", applyCounts: { applied: 1, alreadyGone: 0, failed: 0 } });
    expect(await canView("gus")).toBe(false);
    expect(await canView("vic")).toBe(true);
    const shares = (await w.as("olga", "GET", `resources/${review.resourceId}/shares`)).json as {
      grants: { principalId: string; role: string }[];
    };
    expect(shares.grants.filter((g) => g.role === "viewer").map((g) => g.principalId)).toEqual([w.id("vic")]);
    const after = await reviewItems(stack, w, review.reviewId, review.instanceId);
    expect(after.find((i) => i.principal.id === w.id("gus"))).toMatchObject({ decision: "deny", outcome: "applied" });

    // The email's link now says the review has ended.
    const ended = await page.goto(link);
    expect(ended?.status()).toBe(410);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("This review has ended");
    await shot(page, "ended");
    expect(browser.cspViolations).toEqual([]);
    await page.close();
  });
});
