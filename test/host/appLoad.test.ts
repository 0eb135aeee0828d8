import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { findProjectRoot, randomKey } from "../../tools/settings.js";

const root = findProjectRoot(fileURLToPath(new URL(".", import.meta.url)));
const functionsDir = join(root, "dist", "functions");

/**
 * Loads the built function modules in a fresh Node, one after the other, as the Functions worker does
 * at start, with only the given environment. Prints, per module, "ok" or the error's name and message.
 */
const loader = `
const results = {};
for (const url of JSON.parse(process.argv[1])) {
  try {
    await import(url);
    results[url.slice(url.lastIndexOf("/") + 1)] = "ok";
  } catch (e) {
    results[url.slice(url.lastIndexOf("/") + 1)] = e.name + ": " + e.message;
  }
}
console.log(JSON.stringify(results));
`;

function loadApp(env: Record<string, string>): Promise<Record<string, string>> {
  const urls = readdirSync(functionsDir)
    .filter((f) => f.endsWith(".js"))
    .sort()
    .map((f) => pathToFileURL(join(functionsDir, f)).href);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", loader, JSON.stringify(urls)], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
    child.once("error", reject);
    child.once("close", (code) => {
      if (code !== 0) reject(new Error(`the loader exited with ${code}: ${err}`));
      else resolve(JSON.parse(out) as Record<string, string>);
    });
  });
}

const goodSettings = {
  AzureWebJobsStorage: "UseDevelopmentStorage=true",
  ACS_CONNECTION_STRING: `endpoint=http://127.0.0.1:1/;accesskey=${Buffer.from("k".repeat(40)).toString("base64")}`,
  AUTH_DEV_SIGNING_KEY: randomKey(),
  INVITATION_SIGNING_KEY: randomKey(),
  EMAIL_SENDER: "DoNotReply@sharing.test",
  PUBLIC_BASE_URL: "http://localhost:7071",
  APP_BASE_URL: "http://localhost:7072/app",
};

describe("the app's settings, checked as its function modules load", () => {
  it("loads every function module with good settings, without reaching storage", async () => {
    expect(existsSync(functionsDir), `${functionsDir} is missing: run npm run build`).toBe(true);
    const results = await loadApp(goodSettings);
    expect(Object.keys(results).length).toBeGreaterThan(30);
    expect(Object.entries(results).filter(([, r]) => r !== "ok")).toEqual([]);
  });

  it("fails every module, HTTP, timer and queue alike, naming the bad setting and why, one line each", async () => {
    const results = await loadApp({ ...goodSettings, EMAIL_SENDER: "not an address", INVITATION_TTL_DAYS: "0" });
    for (const [file, result] of Object.entries(results)) {
      expect(result, file).toBe(
        "SettingsError: invalid settings:\n  EMAIL_SENDER: must be an email address\n  INVITATION_TTL_DAYS: must be at least 1",
      );
    }
    for (const file of ["share.js", "health.js", "mailer.js", "scheduledAudit.js", "outboxSweeper.js"])
      expect(Object.keys(results)).toContain(file);
  });

  it("names a missing setting as not set", async () => {
    const { AzureWebJobsStorage: _, ...withoutStorage } = goodSettings;
    const results = await loadApp(withoutStorage);
    expect(results["health.js"]).toMatch(/^SettingsError: invalid settings:\n {2}AzureWebJobsStorage: not set;/);
  });
});
