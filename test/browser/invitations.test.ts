import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../support/stack.js";
import { linkIn, waitForMail } from "../support/mail.js";
import { invitationWorld } from "../support/world.js";

// A real browser (Debian's Chromium through playwright-core) from the mail sink's page to the
// product: open the email, follow the link, accept, land on the redirect. Names and a message full
// of markup must run nothing anywhere on the way.

const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const haveChromium = existsSync(chromiumPath);
if (!haveChromium && process.env.CI) {
  throw new Error(
    `the browser tests need Chromium at ${chromiumPath} (apt-get install -y chromium); in CI they must run`,
  );
}
if (!haveChromium)
  console.warn(
    `SKIPPED browser tests: no Chromium at ${chromiumPath} (apt-get install -y chromium, or set CHROMIUM_PATH); CI is not set`,
  );

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

// Each payload tries to prove it ran by setting a global or opening a dialog.
const hostileName = `Megan <script>window.__pwned="name";alert("name")</script><img src=x onerror="window.__pwned='img'"> Maker`;
const hostileMessage = `Look at this </blockquote><script>window.__pwned="message";alert("message")</script>\n<svg onload="window.__pwned='svg'"></svg> & "quotes" 'too'`;
const hostileResource = `Invoices <script>window.__pwned="resource"</script>`;

describe.skipIf(!haveChromium)("invitations in a browser", () => {
  let stack: Stack;
  let context: BrowserContext;
  let profile: string;
  const dialogs: string[] = [];
  const cspViolations: string[] = [];

  beforeAll(async () => {
    stack = await startStack();
    profile = mkdtempSync(join(tmpdir(), "chromium-profile-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumArgs,
    });
    context.on("page", watch);
    for (const p of context.pages()) watch(p);
  });
  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await stack?.stop();
  });

  function watch(page: Page): void {
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on("console", (m) => {
      if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
    });
  }

  // Expressions evaluated in the page (this project compiles without the DOM library).
  const pwned = (page: Page) => page.evaluate<unknown>("window.__pwned");

  it("opens the email in the sink, follows the link, accepts and lands on the process analytics; markup in names and message runs nothing", async () => {
    const w = await invitationWorld(stack, { makerName: hostileName, resourceName: hostileResource });
    const invitationId = await w.shareWithInvitee("viewer", hostileMessage);
    const [mail] = await waitForMail(stack, w.invitee.email);
    const link = linkIn(stack, mail!);

    const page = await context.newPage();
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
    expect(cspViolations).toEqual([]);
    await page.close();
  });

  it("runs none of the payloads even where scripts are allowed: the email HTML loaded as a page of its own", async () => {
    const w = await invitationWorld(stack, { makerName: hostileName, resourceName: hostileResource });
    await w.shareWithInvitee("coOwner", hostileMessage);
    const [mail] = await waitForMail(stack, w.invitee.email);
    const page = await context.newPage();
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
    const page = await context.newPage();
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto(linkIn(stack, mail!));
    const fits = await page.evaluate<boolean>("document.documentElement.scrollWidth <= window.innerWidth");
    expect(fits).toBe(true);
    const box = await page.getByRole("button", { name: "Accept and open" }).boundingBox();
    expect(box!.height).toBeGreaterThanOrEqual(44);
    expect(box!.width).toBeLessThanOrEqual(360);
    expect(cspViolations).toEqual([]);
    await page.close();
  });
});
