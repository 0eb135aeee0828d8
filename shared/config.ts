import { z } from "zod";

/**
 * The app's settings, parsed once at start (see `../shared/spec/api.md`, Settings). In Azure they are
 * app settings; locally the host fills `process.env` from the environment first, then
 * `local.settings.json`, as the Functions tools do.
 */
export const settingsSchema = z
  .object({
    /** A connection string (Azurite, or keys where they are allowed). */
    AzureWebJobsStorage: z.string().min(1).optional(),
    /** The identity-based form Azure uses when shared keys are off: the app's managed identity reaches these. */
    AzureWebJobsStorage__tableServiceUri: z.string().url().optional(),
    AzureWebJobsStorage__queueServiceUri: z.string().url().optional(),
    AzureWebJobsStorage__accountName: z
      .string()
      .regex(/^[a-z0-9]{3,24}$/)
      .optional(),
    /** The client id of a user-assigned identity, when the app uses one (`AzureWebJobsStorage__clientId`). */
    AzureWebJobsStorage__clientId: z.string().min(1).optional(),
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
    TABLE_PREFIX: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9]{0,20}$/)
      .default("sharing"),
  })
  .refine(
    (s) =>
      s.AzureWebJobsStorage !== undefined ||
      s.AzureWebJobsStorage__accountName !== undefined ||
      (s.AzureWebJobsStorage__tableServiceUri && s.AzureWebJobsStorage__queueServiceUri),
    {
      message:
        "either AzureWebJobsStorage (a connection string) or its identity-based form (AzureWebJobsStorage__accountName, or __tableServiceUri and __queueServiceUri) must be set",
      path: ["AzureWebJobsStorage"],
    },
  )
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
  // A setting that is present but empty is not set (as `npm start` and the Functions tools read it):
  // clearing AUTH_DEV_SIGNING_KEY in an app's settings must turn development tokens off, not fail every request.
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ""));
  const result = settingsSchema.safeParse(given);
  if (!result.success) {
    throw new SettingsError(result.error.issues.map((i) => `${i.path.join(".") || "(settings)"}: ${i.message}`));
  }
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
