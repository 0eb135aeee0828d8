import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { findProjectRoot, randomKey } from "../../tools/settings.js";

const root = findProjectRoot(fileURLToPath(new URL(".", import.meta.url)));
const startScript = join(root, "dist-tools", "tools", "start.js");

/** Runs `npm start`'s script with only the given environment; resolves when it exits. */
function runStart(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // Only PATH from this process: a developer's own settings must not change the outcome.
    const child = spawn(process.execPath, [startScript], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => (output += chunk));
    }
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, output }));
  });
}

const validSettings = {
  LOCAL_SETTINGS_FILE: "none",
  PORT: "0",
  DEMO: "0",
  AUTH_DEV_SIGNING_KEY: randomKey(),
  INVITATION_SIGNING_KEY: randomKey(),
  EMAIL_SENDER: "DoNotReply@sharing.test",
};

describe("npm start with bad settings", () => {
  it("exits non-zero naming the bad setting and why, without a stack trace", async () => {
    expect(existsSync(startScript), `${startScript} is missing: run npm run build:tools`).toBe(true);
    const { code, output } = await runStart({ ...validSettings, INVITATION_SIGNING_KEY: "short" });
    expect(code).not.toBe(0);
    expect(output).toMatch(/^npm start: invalid settings/m);
    expect(output).toMatch(/^ +INVITATION_SIGNING_KEY: .*32/m);
    expect(output).not.toMatch(/^ {4}at /m);
  });

  it("names every bad setting at once", async () => {
    const { code, output } = await runStart({
      ...validSettings,
      INVITATION_SIGNING_KEY: "short",
      EMAIL_SENDER: "not an address",
      PUBLIC_BASE_URL: "not a url",
    });
    expect(code).not.toBe(0);
    for (const name of ["INVITATION_SIGNING_KEY", "EMAIL_SENDER", "PUBLIC_BASE_URL"]) expect(output).toContain(name);
    expect(output).not.toMatch(/^ {4}at /m);
  });

  it("refuses a PORT that is not a port number the same way", async () => {
    const { code, output } = await runStart({ ...validSettings, PORT: "seventy" });
    expect(code).not.toBe(0);
    expect(output).toContain("npm start: PORT must be a port number, got seventy");
    expect(output).not.toMatch(/^ {4}at /m);
  });
});
