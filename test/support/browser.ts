/**
 * The real browser the tests under test/browser drive: Debian's Chromium through playwright-core.
 * Without Chromium the suites skip (`describe.skipIf(!haveChromium)`), except in CI, where they must run.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const haveChromium = existsSync(chromiumPath);
if (!haveChromium && process.env.CI) {
  throw new Error(
    `the browser tests need Chromium at ${chromiumPath} (apt-get install -y chromium); in CI they must run`,
  );
}
if (!haveChromium)
  console.warn(
    `SKIPPED browser tests: no Chromium at ${chromiumPath} (apt-get install -y chromium, or set CHROMIUM_PATH); CI is not set`,
  );

// Headless and quiet: no sandbox (containers), no background traffic that could outlast a test.
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

/** Where full-page screenshots are kept: test-results/screenshots/{name}.png (the folder made on first use). */
export function screenshotPath(name: string): string {
  const folder = join(process.cwd(), "test-results", "screenshots");
  mkdirSync(folder, { recursive: true });
  return join(folder, `${name}.png`);
}

export interface TestBrowser {
  context: BrowserContext;
  /** Content-Security-Policy violations the pages of the context logged to their consoles. */
  cspViolations: string[];
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/**
 * Starts Chromium with a fresh profile in a temporary folder, its every page watched for CSP
 * violations (a page's own console is the only place the browser reports them).
 */
export async function openBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), "chromium-profile-"));
  const cspViolations: string[] = [];
  const watch = (page: Page) =>
    page.on("console", (m) => {
      if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
    });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumArgs,
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  context.on("page", watch);
  for (const p of context.pages()) watch(p);
  return {
    context,
    cspViolations,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
