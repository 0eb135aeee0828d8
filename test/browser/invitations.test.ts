import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveChromium, openBrowser, type TestBrowser } from "../support/browser.js";
import { startStack, type Stack } from "../support/stack.js";
import { linkIn, waitForMail } from "../support/mail.js";
import { invitationWorld } from "../support/world.js";

// A real browser (Debian's Chromium through playwright-core) from the mail sink's page to the
// product: open the email, follow the link, accept, land on the redirect. Names and a message full
// of markup must run nothing anywhere on the way.

// Each payload tries to prove it ran by setting a global or opening a dialog.
const hostileName = `Megan <script>window.__pwned="name";alert("name")</script><img src=x onerror="window.__pwned='img'"> Maker`;
const hostileMessage = `Look at this </blockquote><script>window.__pwned="message";alert("message")</script>\n<svg onload="window.__pwned='svg'"></svg> & "quotes" 'too'`;
const hostileResource = `Invoices <script>window.__pwned="resource"</script>`;

describe.skipIf(!haveChromium)("invitations in a browser", () => {
  let stack: Stack;
  let browser: TestBrowser;
  const dialogs: string[] = [];

  beforeAll(async () => {
    stack = await startStack();
    browser = await openBrowser();
    browser.context.on("page", watchDialogs);
    for (const p of browser.context.pages()) watchDialogs(p);
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  function watchDialogs(page: Page): void {
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  }

  // Expressions evaluated in the page (this project compiles without the DOM library).
  const pwned = (page: Page) => page.evaluate<unknown>("window.__pwned");

  it("opens the email in the sink, follows the link, accepts and lands on the process analytics; markup in names and message runs nothing", async () => {
    const w = await invitationWorld(stack, { makerName: hostileName, resourceName: hostileResource });
    const invitationId = await w.shareWithInvitee("viewer", hostileMessage);
    const [mail] = await waitForMail(stack, w.invitee.email);
    const link = linkIn(stack, mail!);

    const page = await browser.context.newPage();
    await page.goto(`${stack.sink.url}/`);
    await page.locator(`[data-testid=message]`, { hasText: w.invitee.email }).getByRole("link").click();
    await expect.poll(() => page.url()).toContain("/messages/");
    expect(await page.getByTestId("subject").textContent()).toContain(hostileName.slice(0, 20));

    // The email's own HTML, rendered in its frame, holds the text and no element of the payloads.
    const frame = page.frameLocator("[data-testid=html-body]");
    await expect.poll(() => frame.locator("blockquote").textContent()).toContain('<script>window.__pwned="message"');
    expect(await frame.locator("script, img, svg, [onerror], [onload]").count()).toBe(0);

    await page.locator(`[data-testid=email-link][href="${link}"]`).click();
    await page.waitForURL(link);
    const main = page.locator("main");
    await expect.poll(() => main.getAttribute("data-outcome")).toBe("invitation");
    const text = (await main.textContent()) ?? "";
    expect(text).toContain(`${hostileName} shared the process mining process ${hostileResource} with you as a viewer.`);
    expect(text).toContain(`<script>window.__pwned="message";alert("message")</script>`);
    expect(await page.locator("script, img, svg, [onerror], [onload]").count()).toBe(0);
    expect(await pwned(page)).toBeUndefined();

    await page.getByRole("button", { name: "Accept and open" }).click();
    const analytics = `${stack.sink.url}/app/environments/${w.envId}/resources/${w.resourceId}/analytics`;
    await page.waitForURL(analytics);
    expect(await page.getByTestId("app-view").textContent()).toBe(`Process analytics for resource ${w.resourceId}`);
    expect(await w.invitationStatus(invitationId)).toBe("accepted");

    expect(dialogs).toEqual([]);
    expect(browser.cspViolations).toEqual([]);
    await page.close();
  });

  it("runs none of the payloads even where scripts are allowed: the email HTML loaded as a page of its own", async () => {
    const w = await invitationWorld(stack, { makerName: hostileName, resourceName: hostileResource });
    await w.shareWithInvitee("coOwner", hostileMessage);
    const [mail] = await waitForMail(stack, w.invitee.email);
    const page = await browser.context.newPage();
    // about:blank has no CSP and scripts on: only our escaping stands between the payloads and running.
    await page.setContent(mail!.html, { waitUntil: "load" });
    expect(await pwned(page)).toBeUndefined();
    expect(await page.locator("script, img, svg, [onerror], [onload]").count()).toBe(0);
    expect(await page.locator("blockquote").textContent()).toContain("<svg onload=");
    expect(dialogs).toEqual([]);
    await page.close();
  });

  it("reads on a phone: no sideways scrolling, a big enough button", async () => {
    const w = await invitationWorld(stack, {
      resourceName: "A process with a rather long name that has to wrap on a narrow screen without scrolling",
    });
    await w.shareWithInvitee("viewer", "x".repeat(300));
    const [mail] = await waitForMail(stack, w.invitee.email);
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto(linkIn(stack, mail!));
    const fits = await page.evaluate<boolean>("document.documentElement.scrollWidth <= window.innerWidth");
    expect(fits).toBe(true);
    const box = await page.getByRole("button", { name: "Accept and open" }).boundingBox();
    expect(box!.height).toBeGreaterThanOrEqual(44);
    expect(box!.width).toBeLessThanOrEqual(360);
    expect(browser.cspViolations).toEqual([]);
    await page.close();
  });
});
