import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { generatedKeys, loadLocalSettings } from "../../tools/settings.js";

const dirs: string[] = [];
function workspace(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "settings-"));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files))
    writeFileSync(join(dir, name), typeof content === "string" ? content : JSON.stringify(content));
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const example = {
  IsEncrypted: false,
  Values: {
    AUTH_DEV_SIGNING_KEY: "(npm start writes a random key into local.settings.json)",
    INVITATION_SIGNING_KEY: "(placeholder)",
    EMAIL_SENDER: "a@b.c",
    INVITATION_TTL_DAYS: 14,
  },
};

describe("loadLocalSettings", () => {
  it("creates local.settings.json from the example with fresh random keys, once", () => {
    const dir = workspace({ "local.settings.example.json": example });
    const env: NodeJS.ProcessEnv = {};
    const first = loadLocalSettings(dir, { env });
    for (const key of generatedKeys) {
      expect(first[key]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    expect(first.EMAIL_SENDER).toBe("a@b.c");
    expect(first.INVITATION_TTL_DAYS).toBe("14");
    const file = join(dir, "local.settings.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // The next run (npm run token, npm start) reads the same keys back.
    const second = loadLocalSettings(dir, { env: {} });
    expect(second.AUTH_DEV_SIGNING_KEY).toBe(first.AUTH_DEV_SIGNING_KEY);
    expect(second.INVITATION_SIGNING_KEY).toBe(first.INVITATION_SIGNING_KEY);
    // And two checkouts don't share them.
    const other = loadLocalSettings(workspace({ "local.settings.example.json": example }), { env: {} });
    expect(other.AUTH_DEV_SIGNING_KEY).not.toBe(first.AUTH_DEV_SIGNING_KEY);
    expect(JSON.parse(readFileSync(file, "utf8")).Values.EMAIL_SENDER).toBe("a@b.c");
  });

  it("lets the environment win and copies only missing values into it", () => {
    const dir = workspace({
      "local.settings.json": {
        Values: { A: "file", B: "file", AUTH_DEV_SIGNING_KEY: "k".repeat(40), INVITATION_SIGNING_KEY: "i".repeat(40) },
      },
    });
    const env: NodeJS.ProcessEnv = { A: "env" };
    const merged = loadLocalSettings(dir, { env });
    expect(merged.A).toBe("env");
    expect(merged.B).toBe("file");
    expect(env.A).toBe("env");
    expect(env.B).toBe("file");
  });

  it("does not rewrite a complete file, and generates no key the environment provides", () => {
    const content = JSON.stringify({ Values: { X: "1" } });
    const dir = workspace({ "local.settings.json": content });
    const env: NodeJS.ProcessEnv = { AUTH_DEV_SIGNING_KEY: "e".repeat(40), INVITATION_SIGNING_KEY: "f".repeat(40) };
    loadLocalSettings(dir, { env });
    expect(readFileSync(join(dir, "local.settings.json"), "utf8")).toBe(content);
  });

  it("takes PORT from Host.LocalHttpPort as func does", () => {
    const dir = workspace({
      "local.settings.json": {
        Values: { AUTH_DEV_SIGNING_KEY: "k".repeat(40), INVITATION_SIGNING_KEY: "i".repeat(40) },
        Host: { LocalHttpPort: 7999 },
      },
    });
    expect(loadLocalSettings(dir, { env: {} }).PORT).toBe("7999");
  });

  it("reads only the environment when told to read no file", () => {
    const dir = workspace({ "local.settings.example.json": example });
    expect(loadLocalSettings(dir, { env: { ONLY: "env" }, file: null })).toEqual({ ONLY: "env" });
  });

  it("refuses invalid and encrypted files with the reason", () => {
    expect(() => loadLocalSettings(workspace({ "local.settings.json": "{ nope" }), { env: {} })).toThrow(
      /not valid JSON/,
    );
    expect(() =>
      loadLocalSettings(workspace({ "local.settings.json": { Values: { A: { nested: true } } } }), { env: {} }),
    ).toThrow(/Values\.A/);
    expect(() =>
      loadLocalSettings(workspace({ "local.settings.json": { IsEncrypted: true, Values: {} } }), { env: {} }),
    ).toThrow(/encrypted/);
  });
});
