/**
 * The hardening that matters in infra/, read from our own Bicep text: no Bicep compiler installs here, and registry
 * modules (br/public:avm/...) are not resolved, only the values we pass them. What Azure alone decides (schemas, API
 * versions, deployment order) is for `az bicep build` and `what-if` (infra/README.md). Each check also runs on a
 * broken copy of the templates and must fail there: a check that passes a wrong template is worse than none.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { appContract } from "../../shared/appContract.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
type Files = Record<string, string>;
const [M, P, APP, SET, KV, RA] = [
  "main.bicep",
  "main.bicepparam",
  "modules/functionApp.bicep",
  "modules/appSettings.bicep",
  "modules/keyVault.bicep",
  "modules/roleAssignments.bicep",
];
const modules = readdirSync(join(root, "infra/modules")).map((f) => `modules/${f}`);
const files: Files = Object.fromEntries(
  [M, P, ...modules].map((f) => [f, readFileSync(join(root, "infra", f), "utf8")]),
);
/** The declaration of a resource of `type`, or of a module from the registry path `avm`. */
const res = (type: string) => new RegExp(`resource \\w+ '${type.replace(/[./]/g, "\\$&")}@[^']+' = `);
const avm = (symbol: string, path: string) => new RegExp(`module ${symbol} 'br/public:avm/res/${path}:[\\d.]+' = `);
type Spec = { azure: string; kind: string; default?: unknown };
const specs: Record<string, Spec> = { ...appContract.settings, ...appContract.hostSettings };
const names = (...azure: string[]) => Object.keys(specs).filter((n) => azure.includes(specs[n]!.azure));

/** Bicep without its comments. Strings are kept whole: `//` inside 'https://…' is no comment. */
function code(text: string): string {
  let out = "";
  const upTo = (end: string, from: number) => (text.indexOf(end, from) + 1 || text.length + 1) - 1;
  for (let i = 0; i < text.length; i++) {
    if (text.startsWith("'''", i)) {
      const end = upTo("'''", i + 3) + 3;
      out += text.slice(i, end);
      i = end - 1;
    } else if (text[i] === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== "'") j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (text.startsWith("//", i)) i = upTo("\n", i) - 1;
    else if (text.startsWith("/*", i)) i = upTo("*/", i) + 1;
    else out += text[i];
  }
  return out;
}

/** The `{ … }` after each match of `header` (a declaration), brackets in strings ignored. */
function bodies(text: string, header: RegExp): string[] {
  const src = code(text);
  const found: string[] = [];
  for (const m of src.matchAll(new RegExp(header.source, "g"))) {
    const open = src.indexOf("{", m.index + m[0].length - 1);
    let depth = 0;
    for (let i = open; i < src.length; i++) {
      if (src[i] === "'") while (i < src.length && src[++i] !== "'") i += src[i] === "\\" ? 1 : 0;
      else if (src[i] === "{") depth++;
      else if (src[i] === "}" && --depth === 0) {
        found.push(src.slice(open, i + 1));
        break;
      }
    }
  }
  return found;
}
const body = (text: string, header: RegExp) => bodies(text, header)[0] ?? "";
/** The value of `key:` in a body, as written. */
const valueOf = (text: string, key: string) => new RegExp(`^\\s*${key}:\\s*(.+?)\\s*$`, "m").exec(text)?.[1];

/** Problems where `text` does not give each key the value expected. */
function expectValues(where: string, text: string, expected: Record<string, string>): string[] {
  return Object.entries(expected)
    .filter(([key, value]) => valueOf(text, key) !== value)
    .map(([key, value]) => `${where}: ${key} is ${valueOf(text, key) ?? "not set"}, not ${value}`);
}

/** `param` declarations of a file, with their decorators. */
function params(text: string): { name: string; secure: boolean; line: string }[] {
  return [...code(text).matchAll(/((?:^@.*\n)*)^param (\w+) (.*)$/gm)].map((m) => ({
    name: m[2]!,
    secure: /@secure\(\)/.test(m[1]!),
    line: m[3]!,
  }));
}

const checks = {
  storage(f: Files): string[] {
    const account = body(f[M]!, avm("storage", "storage/storage-account"));
    const others = Object.entries(f).filter(([, t]) => /'Microsoft\.Storage\/storageAccounts@[^']+' = /.test(code(t)));
    const keys = Object.entries(f).filter(([, t]) =>
      /storage\w*\.listKeys\(|AccountKey=|outputs\.(primary|secondary)(AccessKey|ConnectionString)/i.test(code(t)),
    );
    return [
      ...(account ? [] : ["main.bicep: no storage account from avm/res/storage/storage-account"]),
      ...expectValues("storage", account, {
        allowSharedKeyAccess: "false",
        defaultToOAuthAuthentication: "true",
        minimumTlsVersion: "'TLS1_2'",
        supportsHttpsTrafficOnly: "true",
        allowBlobPublicAccess: "false",
      }),
      ...others.map(([file]) => `${file} declares a storage account outside the locked-down module`),
      ...keys.map(([file]) => `${file} reads a storage account key`),
    ];
  },

  functionApp(f: Files): string[] {
    const app = f[APP]!;
    const site = body(app, res("Microsoft.Web/sites"));
    const publishing = bodies(app, res("Microsoft.Web/sites/basicPublishingCredentialsPolicies"));
    const basicAuthOff = ["'ftp'", "'scm'"].filter(
      (name) => !publishing.some((p) => valueOf(p, "name") === name && valueOf(p, "allow") === "false"),
    );
    return [
      ...expectValues("site", site, {
        httpsOnly: "true",
        minTlsVersion: "'1.2'",
        scmMinTlsVersion: "'1.2'",
        ftpsState: "'Disabled'",
      }),
      ...expectValues("site's identity", body(site, /identity: /), { type: "'SystemAssigned'" }),
      ...expectValues("site's package", body(site, /authentication: /), { type: "'SystemAssignedIdentity'" }),
      ...basicAuthOff.map((n) => `basic-auth publishing ${n} is not turned off`),
    ];
  },

  neverInAzure(f: Files): string[] {
    return Object.entries(f).flatMap(([file, text]) =>
      names("never")
        .filter((n) => new RegExp(`\\b${n}\\b`).test(code(text)))
        .map((n) => `${file} mentions ${n}, which the contract says must never be set in Azure`),
    );
  },

  secrets(f: Files): string[] {
    const values = body(f[SET]!, /var values = /);
    const notReferences = names("keyVaultReference").filter(
      (n) => !/^'@Microsoft\.KeyVault\(SecretUri=\$\{\w+\}\)'$/.test(valueOf(values, n) ?? ""),
    );
    const secretKinds = Object.keys(specs).filter(
      (n) => specs[n]!.kind === "secret" && !["keyVaultReference", "never"].includes(specs[n]!.azure),
    );
    const problems = [
      ...notReferences.map((n) => `${n} is not a Key Vault reference`),
      ...secretKinds.map((n) => `the contract lets secret ${n} into Azure other than by a Key Vault reference`),
    ];
    for (const [file, text] of Object.entries(f)) {
      const declared = file.endsWith(".bicepparam") ? [] : params(text);
      for (const p of declared)
        if (/(key|secret|password|connectionString)$/i.test(p.name) && !p.secure)
          problems.push(`${file}: param ${p.name} holds a secret but is not @secure()`);
      const secure = declared.filter((p) => p.secure).map((p) => p.name);
      for (const [, name, expr] of code(text).matchAll(/^output (\w+) .*?= (.*)$/gm))
        if (/listKeys\(/.test(expr!) || secure.some((s) => new RegExp(`\\b${s}\\b`).test(expr!)))
          problems.push(`${file}: output ${name} exposes a secret`);
    }
    for (const p of params(f[M]!).filter((p) => p.secure)) {
      const given = valueOf(code(f[P]!).replace(/^param (\w+) =/gm, "$1:"), p.name);
      if (!given?.startsWith("readEnvironmentVariable("))
        problems.push(`main.bicepparam: secure param ${p.name} is not read from the environment`);
    }
    return problems;
  },

  contract(f: Files): string[] {
    const main = code(f[M]!);
    const settings = code(f[SET]!);
    const values = body(f[SET]!, /var values = /);
    const given = [...values.matchAll(/^ {2}(\w+):/gm)].map((m) => m[1]!);
    const wanted = names("set", "keyVaultReference");
    const wiring: [string, RegExp][] = [
      ["main.bicep loads it", /^var contract = loadJsonContent\('appContract\.json'\)$/m],
      ["each queue and its poison queue", /^var queueNames = .*contract\.queues.*\.name, .*\.poisonQueue\]/m],
      ["the storage module creates them", /queues: map\(queueNames, /],
      ["appSettings.bicep loads it", /^var contract = loadJsonContent\('\.\.\/appContract\.json'\)$/m],
      ["its settings", /items\(union\(contract\.settings, contract\.hostSettings\)\)/],
      ["marked for Azure", /azure == 'set' \|\| setting\.value\.azure == 'keyVaultReference'/],
      ["are the app's settings", /properties: toObject\(inAzure, /],
    ];
    const defaults: [string, string][] = [
      ["invitationTtlDays", "INVITATION_TTL_DAYS"],
      ["auditSchedule", "AUDIT_SCHEDULE"],
      ["tablePrefix", "TABLE_PREFIX"],
    ];
    return [
      ...wiring
        .filter(([, re]) => !re.test(`${main}\n${settings}`))
        .map(([what]) => `the contract, not wired: ${what}`),
      ...wanted.filter((n) => !given.includes(n)).map((n) => `appSettings.bicep gives no value for ${n}`),
      ...given
        .filter((n) => !wanted.includes(n))
        .map((n) => `appSettings.bicep gives ${n}, which the contract does not mark for Azure`),
      ...defaults
        .filter(([param, setting]) => {
          const line = params(f[M]!).find((p) => p.name === param)?.line ?? "";
          return !line.endsWith(`= ${JSON.stringify(specs[setting]!.default).replace(/"/g, "'")}`);
        })
        .map(([param, setting]) => `main.bicep: param ${param} does not default to the contract's ${setting}`),
    ];
  },

  identityAndModules(f: Files): string[] {
    const problems: string[] = [];
    for (const [file, text] of Object.entries(f))
      for (const [, ref] of code(text).matchAll(/^module \w+ '([^']+)'/gm))
        if (
          ref!.startsWith("br/public:")
            ? !/^br\/public:avm\/res\/[\w/-]+:\d+\.\d+\.\d+$/.test(ref!)
            : !existsSync(join(root, "infra", file, "..", ref!))
        )
          problems.push(`${file}: module ${ref} is neither a pinned AVM resource module nor a file`);
    const vault = body(f[KV]!, res("Microsoft.KeyVault/vaults"));
    const insights = body(f[M]!, avm("appInsights", "insights/component"));
    const roles = bodies(f[RA]!, res("Microsoft.Authorization/roleAssignments"));
    return [
      ...problems,
      ...expectValues("key vault", vault, { enableRbacAuthorization: "true" }),
      ...expectValues("application insights", insights, { disableLocalAuth: "true" }),
      ...(roles.length === 5 ? [] : [`${roles.length} role assignments, not 5 (blob, queue, table, secrets, metrics)`]),
      ...roles.flatMap((r, i) =>
        expectValues(`role assignment ${i + 1}`, r, {
          principalId: "principalId",
          principalType: "'ServicePrincipal'",
        }),
      ),
    ];
  },
};

describe("infra/", () => {
  it.each(Object.keys(checks) as (keyof typeof checks)[])("passes the %s check", (name) => {
    expect(checks[name](files)).toEqual([]);
  });

  it("creates what the code uses: every %SETTING% of a trigger and queue it names, from the contract", () => {
    const sources = readdirSync(join(root, "functions")).map((f) => readFileSync(join(root, "functions", f), "utf8"));
    const bound = sources.flatMap((s) => [...s.matchAll(/"%(\w+)%"/g)].map((m) => m[1]!));
    expect(bound).toContain("AUDIT_SCHEDULE");
    for (const n of bound) expect(names("set")).toContain(n);
    const queues = Object.values(appContract.queues);
    for (const q of sources.flatMap((s) => [...s.matchAll(/queueName: "([^"]+)"/g)].map((m) => m[1])))
      expect(queues.map((x) => x.name)).toContain(q);
    for (const q of queues) {
      expect(q.poisonQueue).toBe(`${q.name}-poison`);
      expect(q.name).toMatch(/^[a-z0-9](?!.*--)[a-z0-9-]{1,55}[a-z0-9]$/);
    }
    const host = JSON.parse(readFileSync(join(root, "host.json"), "utf8"));
    expect(host.extensions.queues.maxDequeueCount).toBe(appContract.maxDequeueCount);
  });
});

/** [check, file, text in it, replacement, what the check must then say]: one row a line reads best, hence no Prettier. */
// prettier-ignore
const breakages: [keyof typeof checks, string, string | RegExp, string, RegExp][] = [
  ["storage", M, "allowSharedKeyAccess: false", "allowSharedKeyAccess: true", /allowSharedKeyAccess is true/],
  ["storage", M, "minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'", /minimumTlsVersion/],
  ["storage", M, "supportsHttpsTrafficOnly: true\n", "", /supportsHttpsTrafficOnly is not set/],
  ["storage", KV, "communicationService.listKeys()", "storageAccount.listKeys()", /reads a storage account key/],
  ["functionApp", APP, "httpsOnly: true", "httpsOnly: false", /httpsOnly is false/],
  ["functionApp", APP, "minTlsVersion: '1.2'", "minTlsVersion: '1.0'", /minTlsVersion is '1.0'/],
  ["functionApp", APP, "ftpsState: 'Disabled'", "ftpsState: 'FtpsOnly'", /ftpsState/],
  ["functionApp", APP, "type: 'SystemAssigned'\n", "type: 'None'\n", /type is 'None'/],
  ["functionApp", APP, /(name: 'scm'\n {2}properties: \{\n {4}allow: )false/, "$1true", /'scm'/],
  ["neverInAzure", SET, "  TABLE_PREFIX: tablePrefix\n", "  TABLE_PREFIX: tablePrefix\n  AUTH_DEV_SIGNING_KEY: 'x'\n", /AUTH_DEV/],
  ["neverInAzure", M, "var tags = {", "var tags = {\n  k: 'AUTH_DEV_SIGNING_KEY'", /main\.bicep mentions AUTH_DEV_SIGNING_KEY/],
  ["secrets", SET, /'@Microsoft.KeyVault\(SecretUri=(\$\{invitationSigningKeySecretUri\})\)'/, "'$1'", /INVITATION_SIGNING_KEY is not/],
  ["secrets", M, "@secure()\n@minLength(32)", "@minLength(32)", /param invitationSigningKey .* not @secure/],
  ["secrets", KV, "@secure()\n", "", /keyVault\.bicep: param invitationSigningKey/],
  ["secrets", KV, "output name string = vault.name", "output name string = '${vault.name}${invitationSigningKey}'", /output name/],
  ["secrets", P, "readEnvironmentVariable('INVITATION_SIGNING_KEY')", "'0123456789abcdef0123456789abcdef'", /environment/],
  ["contract", M, "queue.value.poisonQueue]", "'x']", /poison queue/],
  ["contract", SET, "  APP_BASE_URL: appBaseUrl\n", "", /no value for APP_BASE_URL/],
  ["contract", SET, "  TABLE_PREFIX: tablePrefix\n", "  TABLE_PREFIX: tablePrefix\n  EXTRA: 'x'\n", /gives EXTRA/],
  ["contract", SET, "properties: toObject(inAzure, ", "properties: union(values, {}, ", /are the app's settings/],
  ["contract", M, "param auditSchedule string = '0 0 3 * * *'", "param auditSchedule string = '0 0 4 * * *'", /auditSchedule/],
  ["identityAndModules", M, "storage-account:0.33.0'", "storage-account:latest'", /pinned AVM/],
  ["identityAndModules", M, "'modules/communication.bicep'", "'modules/email.bicep'", /modules\/email\.bicep/],
  ["identityAndModules", KV, "enableRbacAuthorization: true", "enableRbacAuthorization: false", /enableRbacAuthorization/],
  ["identityAndModules", M, "disableLocalAuth: true", "disableLocalAuth: false", /disableLocalAuth/],
  ["identityAndModules", RA, "principalType: 'ServicePrincipal'", "principalType: 'User'", /principalType/],
];

describe("each check fails on a template broken on purpose:", () => {
  it.each(breakages)("%s, in %s", (check, file, from, to, says) => {
    const text = files[file]!;
    expect(text).toMatch(typeof from === "string" ? new RegExp(from.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : from);
    const broken = { ...files, [file]: text.replace(from, to) };
    expect(checks[check](broken).join("\n")).toMatch(says);
  });
});
