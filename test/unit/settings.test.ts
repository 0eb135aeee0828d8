import { describe, expect, it } from "vitest";
import { appContract, type SettingName } from "../../shared/appContract.js";
import { parseSettings, SettingsError, settingNames, storageTarget } from "../../shared/config.js";

type Spec = {
  kind: string;
  presence: string;
  azure: string;
  minLength?: number;
  min?: number;
  max?: number;
  default?: unknown;
};
const contract: Record<string, Spec> = appContract.settings;
const names = Object.keys(contract) as SettingName[];

/** A valid value of each kind of the contract. */
function sample(name: string): string {
  const spec = contract[name]!;
  switch (spec.kind) {
    case "url":
      return `https://${name.toLowerCase().replace(/_/g, "-")}.example.net/`;
    case "secret":
      return "k".repeat(Math.max(spec.minLength ?? 1, 48));
    case "integer":
      return String(spec.default ?? spec.min);
    case "email":
      return "DoNotReply@example.net";
    case "ncrontab":
      return "0 30 2 * * *";
    case "storageAccountName":
      return "stdev0123";
    case "tablePrefix":
      return "sharing";
    case "connectionString":
      return "UseDevelopmentStorage=true";
    case "boolean":
      return "false";
    default:
      return "some-value";
  }
}

/** Exactly what the template sets in Azure (the contract's `set` and Key Vault settings), each with a valid value. */
const asInAzure = Object.fromEntries(
  names.filter((n) => ["set", "keyVaultReference"].includes(contract[n]!.azure)).map((n) => [n, sample(n)]),
);

/** A value of the setting's kind that its rules refuse, where the kind has one. */
function refused(name: string): string | undefined {
  const spec = contract[name]!;
  if (spec.kind === "url") return "not a url";
  if (spec.kind === "secret") return spec.minLength && spec.minLength > 1 ? "k".repeat(spec.minLength - 1) : undefined;
  if (spec.kind === "integer") return String((spec.max ?? 0) + 1);
  if (spec.kind === "ncrontab") return "0 3 * * *";
  if (spec.kind === "storageAccountName") return "Not_An_Account";
  if (spec.kind === "tablePrefix") return "sharing-dev";
  if (spec.kind === "email") return "nobody";
  if (spec.kind === "boolean") return "yes";
  return undefined;
}

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    parseSettings(env);
    return [];
  } catch (e) {
    if (!(e instanceof SettingsError)) throw e;
    return e.problems;
  }
}

describe("parseSettings", () => {
  it("reports every missing required setting together, one per line, in a message that reads without a stack", () => {
    let error: unknown;
    try {
      parseSettings({});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SettingsError);
    const { name, message, problems } = error as SettingsError;
    expect(name).toBe("SettingsError");
    const required = names.filter((n) => contract[n]!.presence === "required");
    expect(required).toEqual(
      expect.arrayContaining(["ACS_CONNECTION_STRING", "INVITATION_SIGNING_KEY", "PUBLIC_BASE_URL"]),
    );
    for (const n of required) expect(problems).toContain(`${n}: required, not set`);
    // The either/or groups: storage in one of its forms, and Entra ID (or, locally, a development key).
    expect(problems.filter((p) => p.startsWith("AzureWebJobsStorage: not set"))).toHaveLength(1);
    expect(problems.filter((p) => p.startsWith("AUTH_ISSUER, AUTH_AUDIENCE, AUTH_JWKS_URL: not set"))).toHaveLength(1);
    expect(message.split("\n")).toEqual(["invalid settings:", ...problems.map((p) => `  ${p}`)]);
  });

  it("names a short INVITATION_SIGNING_KEY, and only it", () => {
    expect(problemsOf({ ...asInAzure, INVITATION_SIGNING_KEY: "short" })).toEqual([
      "INVITATION_SIGNING_KEY: must be at least 32 characters",
    ]);
    expect(() => parseSettings({ ...asInAzure, INVITATION_SIGNING_KEY: "short" })).toThrow(
      /^invalid settings:\n {2}INVITATION_SIGNING_KEY: must be at least 32 characters$/,
    );
  });

  it("refuses a secret that is still an unresolved Key Vault reference, however long", () => {
    const reference = "@Microsoft.KeyVault(SecretUri=https://kv-abc.vault.azure.net/secrets/invitation-signing-key/)";
    expect(problemsOf({ ...asInAzure, INVITATION_SIGNING_KEY: reference })).toEqual([
      "INVITATION_SIGNING_KEY: is a Key Vault reference Azure could not resolve",
    ]);
  });

  it("counts an empty value as unset", () => {
    expect(problemsOf({ ...asInAzure, INVITATION_SIGNING_KEY: "" })).toEqual([
      "INVITATION_SIGNING_KEY: required, not set",
    ]);
    const cleared = parseSettings({ ...asInAzure, AUTH_DEV_SIGNING_KEY: "", TABLE_PREFIX: "" });
    expect(cleared.AUTH_DEV_SIGNING_KEY).toBeUndefined();
    expect(cleared.TABLE_PREFIX).toBe(appContract.settings.TABLE_PREFIX.default);
  });

  it("accepts the local form: a storage connection string and a development signing key instead of Entra ID", () => {
    const local = Object.fromEntries(
      Object.entries(asInAzure).filter(([n]) => !n.startsWith("AzureWebJobsStorage__") && !n.startsWith("AUTH_")),
    );
    expect(problemsOf(local).length).toBeGreaterThan(0);
    const s = parseSettings({
      ...local,
      AzureWebJobsStorage: "UseDevelopmentStorage=true",
      AUTH_DEV_SIGNING_KEY: "d".repeat(32),
    });
    expect(storageTarget(s)).toEqual({ connectionString: "UseDevelopmentStorage=true" });
  });
});

describe("infra/appContract.json and the settings schema", () => {
  it("name the same settings", () => {
    expect([...settingNames].sort()).toEqual([...names].sort());
  });

  it("agree that what the template sets in Azure is enough: storage reached with the identity, Entra ID tokens", () => {
    const s = parseSettings(asInAzure);
    expect(asInAzure).not.toHaveProperty("AzureWebJobsStorage");
    expect(asInAzure).not.toHaveProperty("AUTH_DEV_SIGNING_KEY");
    expect(storageTarget(s)).toMatchObject({ tableServiceUri: asInAzure.AzureWebJobsStorage__tableServiceUri });
    expect(s.AUTH_ISSUER).toBe(asInAzure.AUTH_ISSUER);
  });

  it.each(names)("agree on %s: presence and default", (name) => {
    const spec = contract[name]!;
    const { [name]: _dropped, ...without } = asInAzure;
    if (spec.presence === "required") expect(problemsOf(without)).toEqual([`${name}: required, not set`]);
    else if (spec.presence === "defaulted") expect(parseSettings(without)[name]).toEqual(spec.default);
    else if (spec.presence === "optional") expect(parseSettings(without)[name]).toBeUndefined();
    else {
      // "either": alone among its alternatives it is missed, beside the other form it is not needed.
      expect(spec.presence).toBe("either");
      const bare = { ...without };
      for (const n of names) if (contract[n]!.presence === "either") delete bare[n];
      const named = problemsOf(bare).filter((p) => new RegExp(`\\b${name}\\b`).test(p));
      expect(named).toHaveLength(1);
    }
  });

  it.each(names.filter((n) => refused(n) !== undefined))("agree on %s: a value outside its kind is named", (name) => {
    const bad = refused(name)!;
    expect(parseSettings({ ...asInAzure, [name]: sample(name) })).toBeDefined();
    const problems = problemsOf({ ...asInAzure, [name]: bad });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${name}: must `));
  });
});
