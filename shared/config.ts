import { z } from "zod";

/**
 * The app's settings, parsed once at start (see `../shared/spec/api.md`, Settings). In Azure they are
 * app settings; locally the host fills `process.env` from the environment first, then
 * `local.settings.json`, as the Functions tools do.
 */
export const settingsSchema = z
  .object({
    AzureWebJobsStorage: z.string().min(1),
    AUTH_ISSUER: z.string().url().optional(),
    AUTH_AUDIENCE: z.string().min(1).optional(),
    AUTH_JWKS_URL: z.string().url().optional(),
    AUTH_DEV_SIGNING_KEY: z.string().min(16).optional(),
    ACS_CONNECTION_STRING: z.string().min(1),
    EMAIL_SENDER: z.string().email(),
    INVITATION_SIGNING_KEY: z.string().min(32),
    INVITATION_TTL_DAYS: z.coerce.number().int().min(1).max(365).default(14),
    PUBLIC_BASE_URL: z.string().url(),
    APP_BASE_URL: z.string().url(),
    AUDIT_SCHEDULE: z.string().min(1).default("0 0 3 * * *"),
    TABLE_PREFIX: z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,20}$/).default("sharing"),
  })
  .refine((s) => s.AUTH_DEV_SIGNING_KEY !== undefined || (s.AUTH_ISSUER && s.AUTH_AUDIENCE && s.AUTH_JWKS_URL), {
    message: "either AUTH_ISSUER, AUTH_AUDIENCE and AUTH_JWKS_URL, or AUTH_DEV_SIGNING_KEY, must be set",
    path: ["AUTH_ISSUER"],
  });

export type Settings = z.infer<typeof settingsSchema>;

/** The names of every setting the app reads; the infrastructure test checks the Bicep sets the required ones. */
export const settingNames = Object.keys(settingsSchema.shape) as (keyof Settings)[];

export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid settings: ${problems.join("; ")}`);
    this.name = "SettingsError";
  }
}

/** Parses settings from an environment record, failing with every missing or bad key at once. */
export function parseSettings(env: Record<string, string | undefined> = process.env): Settings {
  const result = settingsSchema.safeParse(env);
  if (!result.success) {
    throw new SettingsError(result.error.issues.map((i) => `${i.path.join(".") || "(settings)"}: ${i.message}`));
  }
  return result.data;
}
