import { z } from "zod";
import { appContract, type SettingName } from "./appContract.js";

const url = z.string().url("must be an absolute URL");
/** Six fields, seconds first, as the Functions host reads a timer's schedule. */
const ncrontab = z
  .string()
  .regex(
    /^\s*[\d*/,?LW#A-Za-z-]+(\s+[\d*/,?LW#A-Za-z-]+){5}\s*$/,
    "must be an NCRONTAB expression of six fields (second minute hour day month day-of-week)",
  );
/**
 * A secret of at least `n` characters. In Azure a Key Vault reference the platform could not resolve (no role yet,
 * a wrong URI) reaches the app as its own text, long enough to pass for a key: refuse it by name.
 */
const secret = (n: number) =>
  z
    .string()
    .min(n, `must be at least ${n} characters`)
    .refine((v) => !v.startsWith("@Microsoft.KeyVault("), "is a Key Vault reference Azure could not resolve");
const defaults = appContract.settings;

/**
 * The app's settings, parsed once at start (see `../shared/spec/api.md`, Settings). In Azure they are
 * app settings; locally the host fills `process.env` from the environment first, then
 * `local.settings.json`, as the Functions tools do. One entry per setting of `infra/appContract.json`, no more and
 * no fewer (the `satisfies` below fails the build otherwise); `test/unit/settings.test.ts` checks each entry
 * behaves as its kind, presence and default there say.
 */
const fields = {
  /** A connection string (Azurite, or keys where they are allowed). */
  AzureWebJobsStorage: z.string().optional(),
  /** The identity-based form Azure uses when shared keys are off: the app's managed identity reaches these. */
  AzureWebJobsStorage__tableServiceUri: url.optional(),
  AzureWebJobsStorage__queueServiceUri: url.optional(),
  AzureWebJobsStorage__accountName: z
    .string()
    .regex(/^[a-z0-9]{3,24}$/, "must be a storage account name: 3 to 24 lowercase letters and digits")
    .optional(),
  /** The client id of a user-assigned identity, when the app uses one. */
  AzureWebJobsStorage__clientId: z.string().optional(),
  AUTH_ISSUER: url.optional(),
  AUTH_AUDIENCE: z.string().optional(),
  AUTH_JWKS_URL: url.optional(),
  AUTH_DEV_SIGNING_KEY: secret(defaults.AUTH_DEV_SIGNING_KEY.minLength).optional(),
  ACS_CONNECTION_STRING: secret(defaults.ACS_CONNECTION_STRING.minLength),
  EMAIL_SENDER: z.string().email("must be an email address"),
  INVITATION_SIGNING_KEY: secret(defaults.INVITATION_SIGNING_KEY.minLength),
  INVITATION_TTL_DAYS: z.coerce
    .number("must be a whole number")
    .int("must be a whole number")
    .min(defaults.INVITATION_TTL_DAYS.min, `must be at least ${defaults.INVITATION_TTL_DAYS.min}`)
    .max(defaults.INVITATION_TTL_DAYS.max, `must be at most ${defaults.INVITATION_TTL_DAYS.max}`)
    .default(defaults.INVITATION_TTL_DAYS.default),
  REPORT_TTL_DAYS: z.coerce
    .number("must be a whole number")
    .int("must be a whole number")
    .min(defaults.REPORT_TTL_DAYS.min, `must be at least ${defaults.REPORT_TTL_DAYS.min}`)
    .max(defaults.REPORT_TTL_DAYS.max, `must be at most ${defaults.REPORT_TTL_DAYS.max}`)
    .default(defaults.REPORT_TTL_DAYS.default),
  PUBLIC_BASE_URL: url,
  APP_BASE_URL: url,
  AUDIT_SCHEDULE: ncrontab.default(defaults.AUDIT_SCHEDULE.default),
  GRANT_EXPIRY_SCHEDULE: ncrontab.default(defaults.GRANT_EXPIRY_SCHEDULE.default),
  TABLE_PREFIX: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9]{0,20}$/, "must be a letter then up to 20 letters or digits (a table name prefix)")
    .default(defaults.TABLE_PREFIX.default),
  WEBHOOK_ALLOW_LOOPBACK_HTTP: z
    .enum(["true", "false"], "must be true or false")
    .transform((v) => v === "true")
    .default(defaults.WEBHOOK_ALLOW_LOOPBACK_HTTP.default),
} satisfies Record<SettingName, z.ZodType>;

export const settingsSchema = z.object(fields);

export type Settings = z.infer<typeof settingsSchema>;

/** The names of every setting the app reads: the settings of `infra/appContract.json`. */
export const settingNames = Object.keys(fields) as (keyof Settings)[];

/**
 * Settings the app cannot start with. `problems` has one line per bad or missing setting, naming it and why;
 * the message lists them one per line, so it reads on its own, without a stack trace.
 */
export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid settings:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "SettingsError";
  }
}

/** The either/or rules: each alternative must be complete in one of its forms. */
function missingAlternatives(given: Record<string, string>): string[] {
  const problems: string[] = [];
  const has = (name: SettingName) => given[name] !== undefined;
  if (
    !has("AzureWebJobsStorage") &&
    !has("AzureWebJobsStorage__accountName") &&
    !(has("AzureWebJobsStorage__tableServiceUri") && has("AzureWebJobsStorage__queueServiceUri"))
  )
    problems.push(
      "AzureWebJobsStorage: not set; set it (a connection string) or its identity-based form " +
        "(AzureWebJobsStorage__accountName, or AzureWebJobsStorage__tableServiceUri and " +
        "AzureWebJobsStorage__queueServiceUri)",
    );
  const entra = ["AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_JWKS_URL"] as const;
  if (!has("AUTH_DEV_SIGNING_KEY") && !entra.every(has))
    problems.push(
      `${entra.filter((n) => !has(n)).join(", ")}: not set; Entra ID tokens need AUTH_ISSUER, AUTH_AUDIENCE ` +
        "and AUTH_JWKS_URL (or, locally, AUTH_DEV_SIGNING_KEY)",
    );
  return problems;
}

/** Parses settings from an environment record, failing with every missing or bad setting at once. */
export function parseSettings(env: Record<string, string | undefined> = process.env): Settings {
  // A setting that is present but empty is not set (as `npm start` and the Functions tools read it):
  // clearing AUTH_DEV_SIGNING_KEY in an app's settings must turn development tokens off, not fail the start.
  const given: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined && value !== "") given[name] = value;
  const result = settingsSchema.safeParse(given);
  const problems = result.success
    ? []
    : result.error.issues.map((i) => {
        const name = String(i.path[0] ?? "(settings)");
        return given[name] === undefined ? `${name}: required, not set` : `${name}: ${i.message}`;
      });
  problems.push(...missingAlternatives(given));
  if (problems.length > 0 || !result.success) throw new SettingsError(problems);
  return result.data;
}

/** Where storage is and how to reach it: a connection string, or service URIs and the app's managed identity. */
export type StorageTarget =
  { connectionString: string } | { tableServiceUri: string; queueServiceUri: string; clientId?: string | undefined };

export function storageTarget(s: Settings): StorageTarget {
  if (s.AzureWebJobsStorage) return { connectionString: s.AzureWebJobsStorage };
  const account = s.AzureWebJobsStorage__accountName;
  return {
    tableServiceUri: s.AzureWebJobsStorage__tableServiceUri ?? `https://${account}.table.core.windows.net`,
    queueServiceUri: s.AzureWebJobsStorage__queueServiceUri ?? `https://${account}.queue.core.windows.net`,
    clientId: s.AzureWebJobsStorage__clientId,
  };
}
