import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import { keys, tableNames } from "../../shared/store/keys.js";
import { encodeRow } from "../../shared/store/rowJson.js";
import { startStack, type Stack } from "../support/stack.js";
import { waitForSubject } from "../support/mail.js";
import { eventually } from "../support/poll.js";
import { expectStatus, finishedAudit, newWorld, uid } from "../support/world.js";

interface Finding {
  rule: string;
  severity: string;
  resourceId?: string;
  principalId?: string;
  detail: string;
}
interface Report {
  status: string;
  startedAt?: string;
  finishedAt?: string;
  stats: { resources: number; grants: number; findings: number; byRule: Record<string, number> };
  findings: Finding[];
}

const rules = [
  "noEnabledOwner",
  "disabledConnectionOwner",
  "guestOwner",
  "ownerOutsideExpectedGroups",
  "ownerAddedSinceLastAudit",
  "disabledUserGrant",
  "tooManyOwners",
  "ownerlessResource",
  "leaverNotOffboarded",
  "nonBusinessFlowShared",
  "ownerNotMember",
  "ownerWithoutMakerRole",
  "grantExpiringSoon",
  "guestGrantWithoutExpiry",
];
/** With autoOffboard off an owner who is no member is a leaver, never also ownerNotMember (test/e2e/dlp.test.ts has it). */
const oneOfEach = Object.fromEntries(rules.map((r) => [r, r === "ownerNotMember" ? 0 : 1]));

/** RFC 4180: quoted fields, doubled quotes, CRLF rows. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(cell);
      cell = "";
    } else if (ch === "\r" && text[i + 1] === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      i++;
    } else cell += ch;
  }
  return rows;
}

describe("compliance audits, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  /** One instance of every resource rule's finding (see test/unit/audits.test.ts for the reasoning). */
  async function seeded() {
    const makers = uid("makers");
    // f-conn's Outlook is unlisted, so non-business, but f-conn is shared with nobody: no DLP finding there.
    const w = await newWorld(stack, {
      sensitive: true,
      expectedOwnerGroupIds: [makers],
      maxOwners: 2,
      dlp: { business: ["SharePoint"], blocked: ["Twitter"] },
    });
    const admin = await w.user("admin", { roles: ["SystemAdministrator"] });
    const maker = await w.user("maker");
    const u2 = await w.user("u2");
    await w.user("u3");
    const leaver = await w.user("leaver");
    const guest = await w.user("guest", { userType: "guest" });
    const outsider = await w.user("outsider");
    const gone = await w.user("gone");
    const basic = await w.user("basic", { roles: ["BasicUser"] });
    const inMakers = ["maker", "u2", "u3", "leaver", "guest", "gone", "basic"];
    await w.group(makers, inMakers, "securityGroup", "Makers");
    // The audit reads who is in which group from `ug|` rows of the environment's directory partition,
    // written here straight into storage until putGroup writes them itself.
    await new AzureRowStore({ connectionString: stack.storageConnectionString }).transact(
      tableNames(stack.settings.TABLE_PREFIX ?? "sharing").directory,
      keys.directoryPk(w.envId),
      inMakers.map((name) => ({
        op: "upsert",
        rk: keys.userGroupRk(w.id(name), makers),
        fields: encodeRow({ type: "group", id: makers }),
      })),
    );
    const env = w.envId;
    const path = (r: string) => `/api/environments/${env}/resources/${r}`;
    const put = (r: string, body: Record<string, unknown>) =>
      expectStatus(stack, 201, "PUT", path(r), { token: w.adminToken, body: { creatorId: maker, ...body } });
    const share = async (r: string, role: string, names: string[]) =>
      expectStatus(stack, 201, "POST", `${path(r)}/shares`, {
        token: await w.token("maker"),
        body: { role, principals: names.map((x) => ({ type: "user", id: w.id(x) })), sendInvitation: false },
      });
    await put("p-guest", { kind: "processMining", displayName: 'Invoices, "2026"' });
    await share("p-guest", "coOwner", ["guest"]);
    await put("p-outside", { kind: "processMining", displayName: "Orders" });
    await share("p-outside", "coOwner", ["outsider"]);
    await put("p-orphan", { kind: "taskMining", displayName: "Expenses", creatorId: leaver });
    await put("f-crowded", {
      kind: "cloudFlow",
      displayName: "Approvals",
      solutionAware: true,
      triggerKind: "instant",
    });
    await share("f-crowded", "owner", ["u2", "u3"]);
    await put("f-conn", {
      kind: "cloudFlow",
      displayName: "Notify",
      solutionAware: true,
      triggerKind: "automated",
      connections: [{ id: "c-leaver", connector: "Outlook", ownerId: leaver, usage: "embedded" }],
    });
    await put("p-clean", { kind: "processMining", displayName: "Clean" });
    // An ownerless flow: offboarded with nobody able to own it (its other owner has no maker role).
    await put("f-vacant", {
      kind: "cloudFlow",
      displayName: "Vacant",
      solutionAware: true,
      triggerKind: "automated",
      creatorId: gone,
    });
    await expectStatus(stack, 201, "POST", `${path("f-vacant")}/shares`, {
      token: await w.token("gone"),
      body: { role: "owner", principals: [{ type: "user", id: basic }], sendInvitation: false },
    });
    const off = await expectStatus(stack, 200, "POST", `/api/environments/${env}/offboardings`, {
      token: w.adminToken,
      body: { userId: gone },
    });
    expect((off.json as { ownerless: { resourceId: string }[] }).ownerless.map((o) => o.resourceId)).toEqual([
      "f-vacant",
    ]);
    // basic, left owning f-vacant, holds no maker role. A non-business flow shared run-only.
    await put("f-dlp", {
      kind: "cloudFlow",
      displayName: "Mail out",
      solutionAware: true,
      triggerKind: "instant",
      connections: [{ id: "c-gmail", connector: "Gmail", ownerId: maker, usage: "embedded" }],
    });
    await share("f-dlp", "runOnly", ["u3"]);
    // The leaver is disabled and still holds p-orphan: with autoOffboard off, the audit flags them.
    await w.updateUser("leaver", { enabled: false });
    return { ...w, admin, maker, u2, guest, outsider, leaver, basic, path, share };
  }

  const audit = (w: { envId: string }, auditId: string, token: string, headers: Record<string, string> = {}) =>
    stack.api("GET", `/api/environments/${w.envId}/audits/${auditId}`, { token, headers });

  it("reports one instance of every finding exactly once, as JSON and CSV, and emails the admins", async () => {
    const w = await seeded();
    // The timer audits every environment; this one's report also reaches its admin.
    await stack.runFunction("scheduledAudit");
    await waitForSubject(stack, w.email("admin"), new RegExp(`\\[Env ${w.envId}\\] Sharing audit`));
    stack.sink.clear();

    await w.share("p-clean", "coOwner", ["u2"]);
    // Time-bound grants: one ending within 14 days; and once guests' grants are capped, the guest's
    // coOwner grant without expiry.
    await expectStatus(stack, 201, "POST", `${w.path("p-clean")}/shares`, {
      token: await w.token("maker"),
      body: {
        role: "viewer",
        principals: [{ type: "user", id: w.id("u3") }],
        sendInvitation: false,
        expiresAt: new Date(Date.now() + 5 * 86_400_000).toISOString(),
      },
    });
    const envPath = `/api/environments/${w.envId}`;
    const {
      envId: _id,
      lastAuditAt: _last,
      ...settings
    } = (await expectStatus(stack, 200, "GET", envPath, { token: w.adminToken })).json as Record<string, unknown>;
    await expectStatus(stack, 200, "PUT", envPath, {
      token: w.adminToken,
      body: { ...settings, guestMaxGrantDays: 7 },
    });
    const started = await expectStatus(stack, 202, "POST", `/api/environments/${w.envId}/audits`, {
      token: await w.token("admin"),
    });
    const { auditId } = started.json as { auditId: string };
    expect(started.headers.get("location")).toBe(`/api/environments/${w.envId}/audits/${auditId}`);
    const adminToken = await w.token("admin");
    const report = await eventually(
      `audit ${auditId} to finish`,
      async () => (await audit(w, auditId, adminToken)).json as Report,
      { until: (r) => r.status === "done" },
    );
    expect(report.stats).toMatchObject({ resources: 8, findings: 13 });
    expect(
      Object.fromEntries(rules.map((rule) => [rule, report.findings.filter((f) => f.rule === rule).length])),
    ).toEqual(oneOfEach);
    expect(report.stats.byRule).toEqual(oneOfEach);
    const by = (rule: string) => report.findings.find((f) => f.rule === rule);
    expect(by("guestOwner")).toMatchObject({ resourceId: "p-guest", principalId: w.guest, severity: "high" });
    expect(by("ownerOutsideExpectedGroups")).toMatchObject({ resourceId: "p-outside", principalId: w.outsider });
    expect(by("noEnabledOwner")).toMatchObject({ resourceId: "p-orphan" });
    expect(by("disabledUserGrant")).toMatchObject({ resourceId: "p-orphan", principalId: w.leaver });
    expect(by("tooManyOwners")).toMatchObject({ resourceId: "f-crowded" });
    expect(by("disabledConnectionOwner")).toMatchObject({ resourceId: "f-conn", principalId: w.leaver });
    expect(by("ownerAddedSinceLastAudit")).toMatchObject({ resourceId: "p-clean", principalId: w.u2 });
    expect(by("ownerlessResource")).toMatchObject({ resourceId: "f-vacant", severity: "high" });
    expect(by("leaverNotOffboarded")).toMatchObject({ resourceId: "p-orphan", principalId: w.leaver });
    expect(by("ownerWithoutMakerRole")).toMatchObject({ resourceId: "f-vacant", principalId: w.basic });
    expect(by("nonBusinessFlowShared")).toMatchObject({ resourceId: "f-dlp", severity: "medium" });
    expect(by("grantExpiringSoon")).toMatchObject({ resourceId: "p-clean", principalId: w.id("u3") });
    expect(by("guestGrantWithoutExpiry")).toMatchObject({ resourceId: "p-guest", principalId: w.guest });
    expect(report.findings.slice(0, 3).every((f) => f.severity === "high")).toBe(true);

    const csv = await audit(w, auditId, await w.token("admin"), { accept: "text/csv" });
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    const rows = parseCsv(csv.text);
    expect(rows[0]).toEqual(["rule", "severity", "resourceId", "principalId", "detail"]);
    expect(rows.slice(1).map((r) => r.slice(0, 4))).toEqual(
      report.findings.map((f) => [f.rule, f.severity, f.resourceId ?? "", f.principalId ?? ""]),
    );
    expect(rows.find((r) => r[0] === "guestOwner")?.[4]).toContain('"Invoices, "2026""');
    expect(csv.text).toContain('"Invoices, ""2026"""');

    const mail = await waitForSubject(
      stack,
      w.email("admin"),
      new RegExp(`\\[Env ${w.envId}\\] Sharing audit: 13 findings`),
    );
    // The button opens the signed report page (test/e2e/reports.test.ts); the API route is named too.
    const apiLink = `${stack.baseUrl}/api/environments/${w.envId}/audits/${auditId}`;
    expect(mail.plainText).toContain(apiLink);
    expect(mail.html).toMatch(
      new RegExp(`href="${stack.baseUrl.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/api/reports/[\\w.-]+"`),
    );
    for (const title of [
      "Resources with no enabled owner",
      "Guest owners",
      "Grants to disabled users",
      "Flows with more owners than allowed",
    ])
      expect(mail.plainText).toContain(title);
    expect(mail.plainText.indexOf("Resources with no enabled owner")).toBeLessThan(
      mail.plainText.indexOf("Flows with more owners than allowed"),
    );
    expect(mail.html).not.toContain("<script");
  });

  it("logs one audit.completed entry in the environment's change log when an audit finishes", async () => {
    const w = await seeded();
    const adminToken = await w.token("admin");
    const { auditId } = await finishedAudit(stack, w.envId, adminToken);
    const report = (await audit(w, auditId, adminToken)).json as Report;
    // The runner timer passing over the finished audit writes nothing more.
    await stack.runFunction("auditRunner");
    const log = (await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/changes`, { token: adminToken }))
      .json as { items: { at: string; actorId: string; action: string; auditId?: string; detail: string }[] };
    const entries = log.items.filter((i) => i.action === "audit.completed");
    expect(entries).toEqual([
      {
        at: report.finishedAt,
        actorId: w.admin,
        action: "audit.completed",
        auditId,
        detail: expect.stringContaining(
          `audit ${auditId} done (requested): 8 resource(s), ${report.stats.grants} grant(s), ${report.stats.findings} finding(s)`,
        ) as string,
      },
    ]);
  });

  it("is for environment admins and Sharing.Audit apps", async () => {
    const w = await seeded();
    await expectStatus(stack, 403, "POST", `/api/environments/${w.envId}/audits`, { token: await w.token("maker") });
    await expectStatus(stack, 404, "POST", `/api/environments/${w.envId}/audits`, {
      token: await stack.token(uid("stranger")),
    });
    const auditor = await stack.token(uid("auditor"), ["Sharing.Audit"]);
    const { auditId } = (
      await expectStatus(stack, 202, "POST", `/api/environments/${w.envId}/audits`, { token: auditor })
    ).json as { auditId: string };
    expect((await audit(w, auditId, auditor)).status).toBe(200);
    expect((await audit(w, auditId, await w.token("maker"))).status).toBe(403);
    expect((await audit(w, "no-such-audit", auditor)).status).toBe(404);
    expect((await audit(w, auditId, "")).status).toBe(401);
  });
});
