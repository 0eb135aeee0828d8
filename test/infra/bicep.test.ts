/**
 * Checks the Bicep in infra/ without the Bicep compiler (none installs offline; see shared/spec/platform-facts.md).
 * infra/bicepCheck.ts parses and evaluates the templates; every check below also runs against deliberately broken
 * copies of the templates, which must fail: a check that passes a wrong template would be worse than none.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { storageTarget, settingsSchema } from "../../shared/config.js";
import { emailQueueName } from "../../shared/model/emailJobs.js";
import {
  analyzeInfra,
  appStorageAccountName,
  checkAllBalanced,
  checkBalanced,
  checkEmail,
  checkEntryOutputs,
  checkFunctionAppHardening,
  checkHosting,
  checkKeyVaultReferences,
  checkModules,
  checkMonitoring,
  checkNames,
  checkNeverSet,
  checkOutputsHoldNoSecrets,
  checkParamsFile,
  checkParamsUsed,
  checkRequiredSettings,
  checkResourceShapes,
  checkRoleAssignments,
  checkSecureParams,
  checkStorageHardening,
  checkSyntax,
  connectionConfigured,
  createdQueues,
  describe as describeValue,
  diskImportReader,
  functionApps,
  knownSetting,
  loadInfraSources,
  loadTypeScriptFiles,
  replaceOnce,
  requiredQueues,
  scanFunctions,
  validQueueName,
  withEdit,
  type FunctionApp,
  type InfraModel,
  type InfraSources,
  type RoleRequirement,
  type Value,
} from "../../infra/bicepCheck.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const sources = loadInfraSources(join(repo, "infra"));
const functionFiles = loadTypeScriptFiles(join(repo, "functions"));
const readImport = diskImportReader(join(repo, "functions"));
/** The mailer triggers on the email queue whatever functions/ holds today. */
const alwaysTriggered = [
  { queue: emailQueueName, why: "emailQueueName of shared/model/emailJobs.ts, the mailer's trigger" },
];

/** Built-in role definition IDs. */
const ROLE = {
  storageBlobDataOwner: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
  storageQueueDataContributor: "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
  storageQueueDataMessageProcessor: "8a0f0c08-91a1-4084-bc3d-661d67233fed",
  storageQueueDataMessageSender: "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a",
  storageTableDataContributor: "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
  keyVaultSecretsUser: "4633458b-17de-408a-b874-0445c86b69e6",
  monitoringMetricsPublisher: "3913510d-42f4-4e42-8a64-420c390055eb",
} as const;

/**
 * Settings the schema requires: no default and not optional, so parsing `undefined` fails; and
 * AzureWebJobsStorage, which a refinement requires in one of its forms (connection string or identity-based).
 */
function requiredSettingNames(): string[] {
  return [
    "AzureWebJobsStorage",
    ...Object.entries(settingsSchema.shape)
      .filter(([, schema]) => !schema.safeParse(undefined).success)
      .map(([name]) => name),
  ];
}

/**
 * Stand-ins for values Azure fills in at deployment (host names, tenant, secrets). Values the template knows
 * beforehand (literals, param defaults) are used as they are, so they are checked against the schema for real.
 */
const DEPLOY_TIME_SAMPLES: Record<string, string> = {
  AzureWebJobsStorage: "identity-based: AzureWebJobsStorage__accountName",
  AzureWebJobsStorage__accountName: "stdevabcdefghijk",
  AzureWebJobsStorage__tableServiceUri: "https://stdevabcdefghijk.table.core.windows.net",
  AzureWebJobsStorage__queueServiceUri: "https://stdevabcdefghijk.queue.core.windows.net",
  AUTH_ISSUER: "https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/v2.0",
  AUTH_AUDIENCE: "22222222-2222-2222-2222-222222222222",
  AUTH_JWKS_URL: "https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/discovery/v2.0/keys",
  ACS_CONNECTION_STRING: "endpoint=https://acs-dev.communication.azure.com/;accesskey=c2VjcmV0",
  EMAIL_SENDER: "DoNotReply@33333333-3333-3333-3333-333333333333.azurecomm.net",
  INVITATION_SIGNING_KEY: "k".repeat(48),
  PUBLIC_BASE_URL: "https://func-dev-abcdefghijklm.azurewebsites.net",
  APP_BASE_URL: "https://app.example.com",
};

/**
 * The settings schema's keys the template sets, each with its known value or a deploy-time stand-in.
 * `identityStorageCounts`: whether the identity-based AzureWebJobsStorage__* form stands for AzureWebJobsStorage.
 */
function settingsAsDeployed(app: FunctionApp, identityStorageCounts: boolean): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of Object.keys(settingsSchema.shape)) {
    const isSet =
      name === "AzureWebJobsStorage" && identityStorageCounts
        ? connectionConfigured(app.settings, name, ["blob", "queue", "table"])
        : app.settings.has(name);
    if (!isSet) continue;
    env[name] = knownSetting(app, name) ?? DEPLOY_TIME_SAMPLES[name] ?? `(no stand-in for ${name})`;
  }
  return env;
}

function roleRequirements(app: FunctionApp): RoleRequirement[] {
  const account: Value = appStorageAccountName(app) ?? { k: "unknown", why: "no AzureWebJobsStorage__accountName" };
  const onStorage = { scopeType: "Microsoft.Storage/storageAccounts", scopeName: account };
  return [
    { what: "Storage Table Data Contributor", roleIds: [ROLE.storageTableDataContributor], ...onStorage },
    {
      what: "Storage Queue Data Contributor (or Message Processor)",
      roleIds: [ROLE.storageQueueDataContributor, ROLE.storageQueueDataMessageProcessor],
      ...onStorage,
    },
    {
      what: "Storage Queue Data Contributor (or Message Sender)",
      roleIds: [ROLE.storageQueueDataContributor, ROLE.storageQueueDataMessageSender],
      ...onStorage,
    },
    { what: "Storage Blob Data Owner (host storage)", roleIds: [ROLE.storageBlobDataOwner], ...onStorage },
  ];
}

interface Report {
  balanced: string[];
  syntax: string[];
  names: string[];
  paramsUsed: string[];
  modules: string[];
  paramsFile: string[];
  resourceShapes: string[];
  functionApp: string[];
  hosting: string[];
  requiredSettings: string[];
  settingsParse: string[];
  devKeyNeverSet: string[];
  queues: string[];
  storageHardening: string[];
  appHardening: string[];
  roles: string[];
  keyVault: string[];
  secureParams: string[];
  secretOutputs: string[];
  monitoring: string[];
  email: string[];
  entryOutputs: string[];
}

interface Analysis {
  model: InfraModel;
  app: FunctionApp | undefined;
  created: Set<string>;
  report: Report;
}

/** Runs every check on `src` (and on the function sources `fns`). */
function analyze(src: InfraSources, fns: ReadonlyMap<string, string> = functionFiles): Analysis {
  const model = analyzeInfra(src);
  const { apps, problems: appProblems } = functionApps(model);
  const app = apps[0];
  const none = ["no function app found"];
  const functionApp = [
    ...appProblems,
    ...(apps.length === 1 ? [] : [`expected one function app, found ${apps.length}`]),
  ];

  let queues = none;
  let created = new Set<string>();
  if (app) {
    const account = appStorageAccountName(app);
    if (!account)
      queues = ["AzureWebJobsStorage__accountName is not set: cannot tell which account the queues must be in"];
    else {
      const made = createdQueues(model, account);
      created = made.queues;
      const needed = requiredQueues(app, scanFunctions(fns, readImport), alwaysTriggered);
      queues = [
        ...made.problems,
        ...needed.problems,
        ...[...needed.queues]
          .filter(([queue]) => !created.has(queue))
          .map(([queue, why]) => `queue ${queue} (${why}) is not created by the template`),
        ...[...created].filter((q) => !validQueueName(q)).map((q) => `queue name ${q} breaks the storage naming rules`),
      ];
    }
  }

  let settingsParse = none;
  if (app) {
    const parsed = settingsSchema.safeParse(settingsAsDeployed(app, true));
    settingsParse = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  }

  const report: Report = {
    balanced: checkAllBalanced(src),
    syntax: [],
    names: checkNames(model),
    paramsUsed: checkParamsUsed(model),
    modules: checkModules(model),
    paramsFile: checkParamsFile(model),
    resourceShapes: checkResourceShapes(model),
    functionApp,
    hosting: app ? checkHosting(model, app) : none,
    requiredSettings: app ? checkRequiredSettings(app, requiredSettingNames()) : none,
    settingsParse,
    devKeyNeverSet: checkNeverSet(model, apps, "AUTH_DEV_SIGNING_KEY"),
    queues,
    storageHardening: checkStorageHardening(model),
    appHardening: app ? checkFunctionAppHardening(model, app) : none,
    roles: app ? checkRoleAssignments(model, app, roleRequirements(app)) : none,
    keyVault: app
      ? checkKeyVaultReferences(
          model,
          app,
          ["ACS_CONNECTION_STRING", "INVITATION_SIGNING_KEY"],
          ROLE.keyVaultSecretsUser,
        )
      : none,
    secureParams: checkSecureParams(model),
    secretOutputs: checkOutputsHoldNoSecrets(model),
    monitoring: app ? checkMonitoring(model, app, ROLE.monitoringMetricsPublisher) : none,
    email: app ? checkEmail(model, app) : none,
    entryOutputs: app ? checkEntryOutputs(model, app) : none,
  };
  // Last: evaluation above may have met more unreadable constructs.
  report.syntax = checkSyntax(model);
  return { model, app, created, report };
}

const real = analyze(sources);

function failing(report: Report): Partial<Report> {
  return Object.fromEntries(Object.entries(report).filter(([, problems]) => problems.length > 0));
}

describe("the checker's foundations", () => {
  it("derives the required settings from the schema", () => {
    const required = requiredSettingNames();
    // A sanity anchor: if this derivation ever returned nothing, the required-settings check would pass vacuously.
    expect(required).toEqual(
      expect.arrayContaining(["AzureWebJobsStorage", "ACS_CONNECTION_STRING", "INVITATION_SIGNING_KEY"]),
    );
    expect(required).not.toContain("INVITATION_TTL_DAYS"); // has a default
    expect(required).not.toContain("AUTH_DEV_SIGNING_KEY"); // optional
  });

  it("reads brackets in strings, interpolations and comments correctly", () => {
    expect(
      checkBalanced("ok.bicep", "var a = '}{ // ]'\n// { [\n/* ( */ var b = '${union({ x: 1 }, { y: [ 2 ] })}'\n"),
    ).toEqual([]);
    expect(checkBalanced("bad.bicep", "var a = {\n  b: [1, 2\n}\n")).not.toEqual([]);
    expect(checkBalanced("bad.bicep", "var a = { b: 'x' ")).not.toEqual([]);
    expect(checkBalanced("bad.bicep", "var a = 'unterminated\n")).not.toEqual([]);
  });

  it("evaluates the real template: queues, settings known before deployment", () => {
    expect([...real.created].sort()).toEqual([emailQueueName, `${emailQueueName}-poison`]);
    const app = real.app;
    expect(app).toBeDefined();
    if (!app) return;
    expect(knownSetting(app, "TABLE_PREFIX")).toBe("sharing");
    expect(knownSetting(app, "INVITATION_TTL_DAYS")).toBe("14");
    expect(knownSetting(app, "AUDIT_SCHEDULE")).toBe("0 0 3 * * *");
  });
});

describe("infra/main.bicep", () => {
  it("parses: balanced brackets, known names, existing modules, used params, a matching parameters file", () => {
    const { balanced, syntax, names, modules, paramsUsed, paramsFile, resourceShapes } = real.report;
    expect({ balanced, syntax, names, modules, paramsUsed, paramsFile, resourceShapes }).toEqual({
      balanced: [],
      syntax: [],
      names: [],
      modules: [],
      paramsUsed: [],
      paramsFile: [],
      resourceShapes: [],
    });
  });

  it("creates one Linux function app on Node 20 with a system-assigned identity, HTTPS only, FTPS disabled", () => {
    expect(real.report.functionApp).toEqual([]);
    expect(real.report.appHardening).toEqual([]);
  });

  it("hosts it on a Flex Consumption plan, its package in a container of its own storage, read with its identity", () => {
    expect(real.report.hosting).toEqual([]);
  });

  it("sends telemetry to workspace-based Application Insights without keys", () => {
    expect(real.report.monitoring).toEqual([]);
  });

  it("sends email from DoNotReply@ an Azure-managed domain linked to the ACS resource whose key the app holds", () => {
    expect(real.report.email).toEqual([]);
  });

  it("outputs the function app's name and hostname; passes secrets only through @secure params", () => {
    expect(real.report.entryOutputs).toEqual([]);
    expect(real.report.secureParams).toEqual([]);
  });

  it("sets every setting shared/config.ts requires, storage in its identity-based form", () => {
    expect(real.report.requiredSettings).toEqual([]);
  });

  it("gives settings that satisfy the settings schema as a whole (Entra ID issuer, audience and JWKS included)", () => {
    expect(real.report.settingsParse).toEqual([]);
  });

  it("gives settings the app accepts as they are: storage reached with the managed identity, no connection string", () => {
    const app = real.app;
    if (!app) throw new Error("no function app");
    const env = settingsAsDeployed(app, false);
    expect(env.AzureWebJobsStorage).toBeUndefined();
    const parsed = settingsSchema.safeParse(env);
    expect(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([]);
    if (parsed.success) expect(storageTarget(parsed.data)).toHaveProperty("tableServiceUri");
  });

  it("never sets AUTH_DEV_SIGNING_KEY", () => {
    expect(real.report.devKeyNeverSet).toEqual([]);
  });

  it("creates every queue the app uses: the email queue, and each queue of a function with its -poison", () => {
    expect(real.report.queues).toEqual([]);
  });

  it("locks the storage account down: no shared keys, TLS 1.2, no public blobs", () => {
    expect(real.report.storageHardening).toEqual([]);
  });

  it("gives the app's identity the table, queue and blob roles on its storage account", () => {
    expect(real.report.roles).toEqual([]);
  });

  it("reads ACS_CONNECTION_STRING and INVITATION_SIGNING_KEY from Key Vault with the app's identity", () => {
    expect(real.report.keyVault).toEqual([]);
  });

  it("exposes no secret in an output", () => {
    expect(real.report.secretOutputs).toEqual([]);
  });

  it("points PUBLIC_BASE_URL at the app's https hostname and EMAIL_SENDER at DoNotReply of the managed domain", () => {
    const app = real.app;
    if (!app) throw new Error("no function app");
    const hostname = describeValue({ k: "prop", ri: app.ri, path: ["properties", "defaultHostName"] });
    expect(describeValue(app.settings.get("PUBLIC_BASE_URL") ?? { k: "null" })).toBe(`'https://\${${hostname}}'`);
    const sender = app.settings.get("EMAIL_SENDER");
    expect(sender?.k).toBe("tmpl");
    if (sender?.k !== "tmpl") return;
    const [local, domain] = sender.parts;
    expect(local).toBe("DoNotReply@");
    expect(typeof domain === "object" && domain.k === "prop" && domain.ri.decl.type).toBe(
      "Microsoft.Communication/emailServices/domains",
    );
  });

  it("passes every check", () => {
    expect(failing(real.report)).toEqual({});
  });
});

describe("queue bindings of functions/*.ts", () => {
  const mailer = `
    import { app, output } from "@azure/functions";
    import { emailQueueName } from "../shared/model/emailJobs.js";
    const RETRY = "outbound-email" as const;
    app.storageQueue("mailer", { queueName: emailQueueName, connection: "AzureWebJobsStorage", handler: async () => {} });
    app.timer("scheduledAudit", { schedule: "%AUDIT_SCHEDULE%", handler: async () => {} });
    export const emailOut = output.storageQueue({ queueName: RETRY, connection: "AzureWebJobsStorage" });
  `;

  it("reads the functions folder as it is today without a problem", () => {
    const scan = scanFunctions(functionFiles, readImport);
    expect(scan.problems).toEqual([]);
    // Whatever functions exist, their queues are checked by "creates every queue the app uses" above.
  });

  it("finds triggers, outputs (names imported or const) and %SETTING% references", () => {
    const scan = scanFunctions(new Map([["mailer.ts", mailer]]), readImport);
    expect(scan.problems).toEqual([]);
    expect(scan.bindings.map((b) => [b.kind, b.queueName])).toEqual([
      ["trigger", emailQueueName],
      ["output", "outbound-email"],
    ]);
    expect(scan.settingRefs.map((r) => r.name)).toEqual(["AUDIT_SCHEDULE"]);
  });

  it("cannot read an imported name without the import reader, and says so", () => {
    const scan = scanFunctions(new Map([["mailer.ts", mailer]]));
    expect(scan.problems).toEqual([expect.stringMatching(/mailer\.ts:5: queueName is not a string literal/)]);
  });

  it("accepts functions bound to queues the template creates", () => {
    expect(analyze(sources, new Map([["mailer.ts", mailer]])).report.queues).toEqual([]);
  });

  it("fails a trigger on a queue the template does not create, naming the queue and its poison queue", () => {
    const fns = new Map([["audit.ts", `app.storageQueue("auditJobs", { queueName: "audit-jobs", handler })`]]);
    const problems = analyze(sources, fns).report.queues.join("\n");
    expect(problems).toMatch(/queue audit-jobs \(trigger/);
    expect(problems).toMatch(/queue audit-jobs-poison/);
  });

  it("fails an output to a queue the template does not create, but asks no poison queue for it", () => {
    const fns = new Map([
      [
        "share.ts",
        `const out = output.storageQueue({ queueName: 'notifications', connection: 'AzureWebJobsStorage' })`,
      ],
    ]);
    const problems = analyze(sources, fns).report.queues.join("\n");
    expect(problems).toMatch(/queue notifications \(output/);
    expect(problems).not.toMatch(/notifications-poison/);
  });

  it("accepts a %SETTING% queue name the template sets to a known queue", () => {
    const fns = new Map([["a.ts", `output.storageQueue({ queueName: "%TABLE_PREFIX%-x" })`]]);
    const problems = analyze(sources, fns).report.queues.join("\n");
    expect(problems).toMatch(/queue sharing-x \(output/); // resolved through TABLE_PREFIX's param default
  });

  it("fails a %SETTING% the template does not set, in a queue name or anywhere else", () => {
    const fns = new Map([
      ["a.ts", `app.storageQueue("a", { queueName: "%OTHER_QUEUE%", handler })`],
      ["b.ts", `app.timer("b", { schedule: "%NOT_A_SETTING%", handler })`],
    ]);
    const problems = analyze(sources, fns).report.queues.join("\n");
    expect(problems).toMatch(/%OTHER_QUEUE% names an app setting the template does not set/);
    expect(problems).toMatch(/%NOT_A_SETTING% names an app setting/);
  });

  it("fails a queue name it cannot read, and a connection the template does not configure", () => {
    const fns = new Map([
      ["a.ts", `app.storageQueue("a", { queueName: settings.EMAIL_QUEUE, handler })`],
      ["b.ts", `app.storageQueue("b", { queueName: "%EMAIL_QUEUE%", connection: "OtherStorage", handler })`],
    ]);
    const problems = analyze(sources, fns).report.queues.join("\n");
    expect(problems).toMatch(/a\.ts:1: queueName is not a string literal/);
    expect(problems).toMatch(/connection OtherStorage is not configured/);
  });
});

/** A broken copy of the templates: `file` edited by replacing `find` (which must be there) with `replacement`. */
function broken(file: string, find: string | RegExp, replacement: string): Report {
  return analyze(withEdit(sources, file, (text) => replaceOnce(text, find, replacement))).report;
}

describe("broken templates fail the same checks", () => {
  it("allowSharedKeyAccess: true", () => {
    const report = broken("modules/storage.bicep", "allowSharedKeyAccess: false", "allowSharedKeyAccess: true");
    expect(report.storageHardening.join("\n")).toMatch(/allowSharedKeyAccess is true/);
  });

  it("TLS 1.0", () => {
    const report = broken("modules/storage.bicep", "minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'");
    expect(report.storageHardening).toEqual([
      expect.stringMatching(/properties\.minimumTlsVersion is "TLS1_0", expected "TLS1_2"/),
    ]);
  });

  it("public blobs allowed by a second key further down (which Bicep refuses anyway)", () => {
    const report = broken(
      "modules/storage.bicep",
      "    supportsHttpsTrafficOnly: true\n",
      "    supportsHttpsTrafficOnly: true\n    allowBlobPublicAccess: true\n",
    );
    expect(report.syntax).toEqual([
      expect.stringMatching(/modules\/storage\.bicep:\d+: key 'allowBlobPublicAccess' is given twice/),
    ]);
    expect(report.storageHardening.join("\n")).toMatch(/allowBlobPublicAccess is true/);
  });

  it("a required setting only in a comment", () => {
    const report = broken(
      "modules/appSettings.bicep",
      "    EMAIL_SENDER: emailSender\n",
      "    // EMAIL_SENDER: emailSender\n",
    );
    expect(report.requiredSettings).toEqual([
      "required setting EMAIL_SENDER is not set in the function app's app settings",
    ]);
  });

  it("a required setting set on some other site than the function app", () => {
    const report = broken(
      "modules/appSettings.bicep",
      "resource site 'Microsoft.Web/sites@2024-04-01' existing = {\n  name: functionAppName\n}",
      "resource site 'Microsoft.Web/sites@2024-04-01' existing = {\n  name: 'some-other-app'\n}",
    );
    expect(report.functionApp.join("\n")).toMatch(/no function app of this template/);
    expect(report.requiredSettings.length).toBeGreaterThan(0);
  });

  it("AUTH_AUDIENCE missing (the schema needs the Entra ID trio when there is no development key)", () => {
    const report = broken("modules/appSettings.bicep", "    AUTH_AUDIENCE: authAudience\n", "");
    expect(report.settingsParse.join("\n")).toMatch(/AUTH_ISSUER: either AUTH_ISSUER, AUTH_AUDIENCE and AUTH_JWKS_URL/);
    expect(report.paramsUsed.join("\n")).toMatch(/param 'authAudience' is never used/);
  });

  it("a setting value the schema refuses (TABLE_PREFIX with a hyphen)", () => {
    const report = broken(
      "main.bicep",
      "param tablePrefix string = 'sharing'",
      "param tablePrefix string = 'sharing-dev'",
    );
    expect(report.settingsParse.join("\n")).toMatch(/TABLE_PREFIX/);
  });

  it("AzureWebJobsStorage neither as a connection string nor identity-based", () => {
    const report = broken("modules/appSettings.bicep", / {4}AzureWebJobsStorage__accountName: .*\n(.*\n){2}/, "");
    expect(report.requiredSettings).toContain(
      "required setting AzureWebJobsStorage is not set in the function app's app settings",
    );
  });

  it("AUTH_DEV_SIGNING_KEY set", () => {
    const report = broken(
      "modules/appSettings.bicep",
      "    TABLE_PREFIX: tablePrefix\n",
      "    TABLE_PREFIX: tablePrefix\n    AUTH_DEV_SIGNING_KEY: 'x'\n",
    );
    expect(report.devKeyNeverSet.join("\n")).toMatch(/the function app sets AUTH_DEV_SIGNING_KEY/);
  });

  it("AUTH_DEV_SIGNING_KEY slipped in through a variable", () => {
    const report = broken("main.bicep", "var tags = {", "var devKey = {\n  AUTH_DEV_SIGNING_KEY: 'x'\n}\nvar tags = {");
    expect(report.devKeyNeverSet.join("\n")).toMatch(/main\.bicep mentions AUTH_DEV_SIGNING_KEY/);
  });

  it("the poison queue not created", () => {
    const report = broken("main.bicep", "  '${emailQueueName}-poison'\n", "");
    // The reason names the mailer's trigger when functions/mailer.ts exists, else the code's constant.
    expect(report.queues).toEqual([
      expect.stringMatching(new RegExp(`^queue ${emailQueueName}-poison \\(.*\\) is not created by the template$`)),
    ]);
  });

  it("the email queue named differently from the code", () => {
    const report = broken(
      "main.bicep",
      "var emailQueueName = 'outbound-email'",
      "var emailQueueName = 'outbound-mail'",
    );
    expect(report.queues).toEqual([
      expect.stringMatching(new RegExp(`^queue ${emailQueueName} \\(.*\\) is not created by the template$`)),
      expect.stringMatching(new RegExp(`^queue ${emailQueueName}-poison \\(.*\\) is not created by the template$`)),
    ]);
  });

  it("queues created in another storage account", () => {
    const report = broken(
      "modules/storage.bicep",
      "resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {\n  parent: storageAccount",
      "resource otherAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {\n  name: 'elsewhere'\n}\n\nresource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {\n  parent: otherAccount",
    );
    expect(report.queues.join("\n")).toMatch(/is in .*elsewhere.*, not the app's storage account/);
  });

  it("the table role replaced by a reader role", () => {
    const report = broken(
      "modules/roleAssignments.bicep",
      "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
      "76199698-9eea-4c19-bc75-cec21354c6b6",
    );
    expect(report.roles).toEqual([
      `no role assignment gives the function app's identity Storage Table Data Contributor on Microsoft.Storage/storageAccounts ${describeValue(appStorageAccountName(real.app as FunctionApp) as Value)}`,
    ]);
  });

  it("the queue role given to someone else", () => {
    const report = broken(
      "modules/roleAssignments.bicep",
      /(roles\.storageQueueDataContributor\)\n {4})principalId: principalId/,
      "$1principalId: deployer().objectId",
    );
    expect(report.roles.join("\n")).toMatch(/Storage Queue Data Contributor/);
  });

  it("the table role assigned on the Key Vault instead of the storage account", () => {
    const report = broken(
      "modules/roleAssignments.bicep",
      /(name: guid\(storageAccount\.id, principalId, roles\.storageTableDataContributor\)\n {2})scope: storageAccount/,
      "$1scope: vault",
    );
    expect(report.roles.join("\n")).toMatch(/Storage Table Data Contributor/);
  });

  it("no managed identity", () => {
    const report = broken("modules/functionApp.bicep", "type: 'SystemAssigned'", "type: 'None'");
    expect(report.appHardening.join("\n")).toMatch(/no system-assigned identity/);
  });

  it("FTPS allowed and HTTP accepted", () => {
    const report = broken("modules/functionApp.bicep", "httpsOnly: true", "httpsOnly: false");
    expect(report.appHardening.join("\n")).toMatch(/httpsOnly is false/);
    const ftps = broken("modules/functionApp.bicep", "ftpsState: 'Disabled'", "ftpsState: 'FtpsOnly'");
    expect(ftps.appHardening.join("\n")).toMatch(/ftpsState is "FtpsOnly"/);
  });

  it("a secret setting that is no Key Vault reference", () => {
    const report = broken(
      "modules/appSettings.bicep",
      "INVITATION_SIGNING_KEY: '@Microsoft.KeyVault(SecretUri=${invitationSigningKeySecretUri})'",
      "INVITATION_SIGNING_KEY: '@Microsoft.KeyVault(SecretUri=https://elsewhere.vault.azure.net/secrets/key)'",
    );
    expect(report.keyVault.join("\n")).toMatch(/INVITATION_SIGNING_KEY is .* not a Key Vault reference/);
  });

  it("the app without Key Vault Secrets User", () => {
    const report = broken(
      "modules/roleAssignments.bicep",
      "roles.keyVaultSecretsUser)\n    principalId: principalId",
      "roles.keyVaultSecretsUser)\n    principalId: deployer().objectId",
    );
    expect(report.keyVault.join("\n")).toMatch(/Key Vault Secrets User/);
  });

  it("an output leaking the ACS connection string", () => {
    const report = broken(
      "modules/keyVault.bicep",
      "output name string = vault.name",
      "output name string = vault.name\noutput leak string = communicationService.listKeys().primaryConnectionString",
    );
    expect(report.secretOutputs.join("\n")).toMatch(/output 'leak' exposes a secret/);
  });

  it("an output leaking the invitation key through the parent template", () => {
    const report = broken(
      "main.bicep",
      "output keyVaultName string = keyVault.outputs.name",
      "output keyVaultName string = '${keyVault.outputs.name}${invitationSigningKey}'",
    );
    expect(report.secretOutputs.join("\n")).toMatch(/main\.bicep:\d+: output 'keyVaultName' exposes a secret/);
  });

  it("an unused param", () => {
    const report = broken(
      "modules/storage.bicep",
      "param location string",
      "param location string\n\nparam unusedThing string = 'x'",
    );
    expect(report.paramsUsed).toEqual([
      expect.stringMatching(/modules\/storage\.bicep:\d+: param 'unusedThing' is never used/),
    ]);
  });

  it("a module file that does not exist", () => {
    const report = broken("main.bicep", "'modules/storage.bicep'", "'modules/storageAccount.bicep'");
    expect(report.modules.join("\n")).toMatch(/references modules\/storageAccount\.bicep, which does not exist/);
  });

  it("a module output or param that does not exist", () => {
    const report = broken("main.bicep", "storage.outputs.deploymentContainerUrl", "storage.outputs.containerUrl");
    expect(report.modules.join("\n")).toMatch(/storage\.outputs\.containerUrl is not an output/);
    const missing = broken("main.bicep", "    deploymentContainerName: 'app-package'\n", "");
    expect(missing.modules.join("\n")).toMatch(/does not pass required param 'deploymentContainerName'/);
  });

  it("a misspelt name", () => {
    const report = broken("modules/appSettings.bicep", "AUTH_AUDIENCE: authAudience", "AUTH_AUDIENCE: authAudiance");
    expect(report.names.join("\n")).toMatch(/'authAudiance' is not declared/);
  });

  it("an unbalanced brace", () => {
    const report = broken(
      "modules/storage.bicep",
      "  sku: {\n    name: 'Standard_LRS'\n  }\n",
      "  sku: {\n    name: 'Standard_LRS'\n\n",
    );
    expect(report.balanced.length).toBeGreaterThan(0);
    expect(report.syntax.length).toBeGreaterThan(0);
  });

  it("the invitation key param not @secure, in the entry template or in the module", () => {
    const main = broken("main.bicep", "@secure()\n@minLength(32)", "@minLength(32)");
    expect(main.secureParams).toEqual([
      expect.stringMatching(/main\.bicep:\d+: param 'invitationSigningKey' feeds @secure\(\) 'invitationSigningKey'/),
    ]);
    const module = broken("modules/keyVault.bicep", "@secure()\n", "");
    expect(module.secureParams).toEqual([
      expect.stringMatching(/modules\/keyVault\.bicep:\d+: param 'invitationSigningKey' receives a secret/),
    ]);
  });

  it("a role assignment without a name, a site without a location, a domain without its parent", () => {
    const unnamed = broken(
      "modules/roleAssignments.bicep",
      "  name: guid(vault.id, principalId, roles.keyVaultSecretsUser)\n",
      "",
    );
    expect(unnamed.resourceShapes).toEqual([expect.stringMatching(/resource 'secretsUser' has no name/)]);
    const unplaced = broken(
      "modules/functionApp.bicep",
      "resource site 'Microsoft.Web/sites@2024-04-01' = {\n  name: name\n  location: location\n",
      "resource site 'Microsoft.Web/sites@2024-04-01' = {\n  name: name\n",
    );
    expect(unplaced.resourceShapes).toEqual([expect.stringMatching(/resource 'site' has no location/)]);
    const orphan = broken("modules/communication.bicep", "  parent: emailService\n", "");
    expect(orphan.resourceShapes).toEqual([
      expect.stringMatching(/resource 'managedDomain' is a child resource without a parent/),
    ]);
  });

  it("a role assigned on the whole resource group instead of the storage account", () => {
    const report = broken(
      "modules/roleAssignments.bicep",
      /(roles\.storageTableDataContributor\)\n {2})scope: storageAccount\n/,
      "$1",
    );
    expect(report.roles.join("\n")).toMatch(/Storage Table Data Contributor/);
  });

  it("a role ID read from a key the roles variable lacks", () => {
    const report = broken(
      "modules/roleAssignments.bicep",
      "  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'\n",
      "",
    );
    expect(report.syntax.join("\n")).toMatch(/no key 'monitoringMetricsPublisher'/);
    expect(report.monitoring.join("\n")).toMatch(/Monitoring Metrics Publisher/);
  });

  it("the app on no plan, on a Windows plan, or deploying with a connection string", () => {
    expect(broken("modules/functionApp.bicep", "    serverFarmId: plan.id\n", "").hosting).toEqual([
      expect.stringMatching(/serverFarmId .* is not the id of a plan/),
    ]);
    expect(broken("modules/functionApp.bicep", "    reserved: true\n", "").hosting).toEqual([
      "plan 'plan' is not a Linux plan (properties.reserved)",
    ]);
    const keyed = broken(
      "modules/functionApp.bicep",
      "type: 'SystemAssignedIdentity'",
      "type: 'StorageAccountConnectionString'",
    );
    expect(keyed.hosting.join("\n")).toMatch(/reached with "StorageAccountConnectionString"/);
    const elsewhere = broken(
      "main.bicep",
      "deploymentContainerUrl: storage.outputs.deploymentContainerUrl",
      "deploymentContainerUrl: 'https://other.blob.core.windows.net/app-package'",
    );
    expect(elsewhere.hosting.join("\n")).toMatch(
      /is not a container this template creates in the app's storage account/,
    );
  });

  it("the Key Vault on access policies, where the Secrets User role grants nothing", () => {
    const report = broken("modules/keyVault.bicep", "enableRbacAuthorization: true", "enableRbacAuthorization: false");
    expect(report.keyVault.join("\n")).toMatch(/does not use RBAC authorization/);
  });

  it("telemetry without a connection string, with local auth on, or without the AAD authentication string", () => {
    expect(
      broken(
        "modules/appSettings.bicep",
        "    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString\n",
        "",
      ).monitoring,
    ).toEqual([
      "APPLICATIONINSIGHTS_CONNECTION_STRING is not set, not the connection string of a component this template creates",
    ]);
    expect(broken("modules/monitoring.bicep", "    DisableLocalAuth: true\n", "").monitoring.join("\n")).toMatch(
      /DisableLocalAuth/,
    );
    expect(
      broken("modules/monitoring.bicep", "    WorkspaceResourceId: workspace.id\n", "").monitoring.join("\n"),
    ).toMatch(/Log Analytics/);
    expect(
      broken(
        "modules/appSettings.bicep",
        "    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'\n",
        "",
      ).monitoring.join("\n"),
    ).toMatch(/APPLICATIONINSIGHTS_AUTHENTICATION_STRING/);
  });

  it("the email domain not linked to ACS, customer-managed, or another sender", () => {
    expect(broken("modules/communication.bicep", "      managedDomain.id\n", "").email).toEqual([
      "the sender's domain is linked to no Communication Services resource of this template",
    ]);
    expect(
      broken("modules/communication.bicep", "domainManagement: 'AzureManaged'", "domainManagement: 'CustomerManaged'")
        .email,
    ).toEqual(["the sender's domain is not Azure-managed"]);
    expect(
      broken(
        "modules/appSettings.bicep",
        "var emailSender = 'DoNotReply@${emailSenderDomain}'",
        "var emailSender = 'noreply@example.com'",
      ).email.join("\n"),
    ).toMatch(/EMAIL_SENDER is "noreply@example.com"/);
  });

  it("ACS_CONNECTION_STRING holding the key of another ACS resource", () => {
    const report = broken(
      "modules/keyVault.bicep",
      "value: communicationService.listKeys().primaryConnectionString",
      "value: otherAcs.listKeys().primaryConnectionString",
    );
    expect(report.names.join("\n")).toMatch(/'otherAcs' is not declared/);
    const other = broken(
      "modules/keyVault.bicep",
      "resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' existing = {\n  name: communicationServiceName\n}",
      "resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' existing = {\n  name: 'acs-somewhere-else'\n}",
    );
    expect(other.email.join("\n")).toMatch(/not the connection string of the Communication Services resource linked/);
  });

  it("the entry template without the function app's name or hostname among its outputs", () => {
    const report = broken(
      "main.bicep",
      /output functionAppName string = .*\noutput functionAppHostName string = .*\noutput publicBaseUrl .*\n/,
      "",
    );
    expect(report.entryOutputs).toEqual([
      "main.bicep does not output the function app's name",
      "main.bicep does not output the function app's hostname",
    ]);
  });

  it("a required param the parameters file does not give", () => {
    const report = broken("main.bicepparam", "param appBaseUrl = readEnvironmentVariable('APP_BASE_URL')\n", "");
    expect(report.paramsFile).toEqual(["main.bicepparam: required param 'appBaseUrl' of main.bicep is not given"]);
  });
});
