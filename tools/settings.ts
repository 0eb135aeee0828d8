import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { z } from "zod";

/**
 * `local.settings.json` as the Functions Core Tools read it. Values may be written as numbers or
 * booleans by hand; the tools turn them into strings, and so do we.
 */
const localSettingsSchema = z
  .object({
    IsEncrypted: z.boolean().optional(),
    Values: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    Host: z
      .object({ LocalHttpPort: z.number().int().min(0).max(65535).optional() })
      .loose()
      .optional(),
  })
  .loose();

export type LocalSettingsFile = z.infer<typeof localSettingsSchema>;

/** Settings whose value is generated per checkout, like `func init` does for its own secrets. */
export const generatedKeys = ["AUTH_DEV_SIGNING_KEY", "INVITATION_SIGNING_KEY"] as const;

export interface LoadLocalSettingsOptions {
  /** The environment that wins over the file; default `process.env`, which also receives missing values. */
  env?: NodeJS.ProcessEnv;
  /**
   * Path of the settings file; default `<dir>/local.settings.json`. `null` reads no file at all (the
   * end-to-end stack uses this so a developer's own file cannot leak into the tests).
   */
  file?: string | null;
}

/** A fresh random key: 32 bytes, base64url, what both signing settings expect. */
export function randomKey(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * Loads settings as `func start` does: environment variables first, then `local.settings.json`
 * `Values`. Values only the file has are copied into the environment (so function code reading
 * `process.env` sees them). When the file is missing it is created from
 * `local.settings.example.json` with fresh random signing keys, so `npm run token` and `npm start`
 * agree on the key from then on.
 *
 * @returns every setting, environment and file merged (environment wins).
 */
export function loadLocalSettings(dir: string, options: LoadLocalSettingsOptions = {}): Record<string, string> {
  const env = options.env ?? process.env;
  const file = options.file === undefined ? join(dir, "local.settings.json") : options.file;
  const fromFile = file === null ? {} : readOrCreate(file, join(dir, "local.settings.example.json"), env);

  const merged: Record<string, string> = { ...fromFile };
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined) merged[name] = value;
  }
  for (const [name, value] of Object.entries(fromFile)) {
    if (env[name] === undefined) env[name] = value;
  }
  return merged;
}

function readOrCreate(file: string, examplePath: string, env: NodeJS.ProcessEnv): Record<string, string> {
  let parsed: LocalSettingsFile;
  let dirty = false;
  if (existsSync(file)) {
    parsed = parseFile(file);
  } else if (existsSync(examplePath)) {
    parsed = parseFile(examplePath);
    dirty = true;
  } else {
    return {};
  }
  if (parsed.IsEncrypted === true) {
    throw new Error(`${file}: encrypted settings are not supported by the local host; set IsEncrypted to false`);
  }
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed.Values ?? {})) values[name] = String(value);

  // A key that neither the environment nor the file really sets (absent, or still the example's
  // "(npm start writes …)" placeholder) gets a random one, saved so every later run reuses it.
  for (const name of generatedKeys) {
    const current = values[name];
    const usable = current !== undefined && current.length >= 32 && !current.startsWith("(");
    if (!usable && env[name] === undefined) {
      values[name] = randomKey();
      dirty = true;
    }
  }
  if (dirty) {
    writeFileSync(file, JSON.stringify({ ...parsed, IsEncrypted: false, Values: values }, null, 2) + "\n", {
      mode: 0o600,
    });
  }
  if (parsed.Host?.LocalHttpPort !== undefined && values.PORT === undefined) {
    // `func` takes its port from Host.LocalHttpPort; this host reads PORT.
    values.PORT = String(parsed.Host.LocalHttpPort);
  }
  return values;
}

function parseFile(path: string): LocalSettingsFile {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`${path} is not valid JSON`, { cause: error });
  }
  const result = localSettingsSchema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(`${path}: ${problems.join("; ")}`);
  }
  return result.data;
}

/**
 * The project root (the folder with `host.json` and `package.json`) above `from`, so the compiled
 * `dist-tools/tools/*.js` and the sources under vitest find the same files.
 */
export function findProjectRoot(from: string): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, "host.json")) && existsSync(join(dir, "package.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no host.json and package.json above ${from}`);
    dir = parent;
  }
}
