import { describe, expect, it } from "vitest";
import { memoryCaps } from "../support/memoryCaps.js";
import { putEnvironment, putGroup, putMembership, putUser } from "../../shared/usecases/directory.js";
import { putResource } from "../../shared/usecases/resources.js";
import { share } from "../../shared/usecases/sharing.js";
import {
  auditEveryEnvironment,
  continuePendingAudits,
  requestAudit,
  scheduledAuditId,
} from "../../shared/usecases/audits/request.js";
import { runAudit } from "../../shared/usecases/audits/run.js";
import { findingsCsv, getAudit } from "../../shared/usecases/audits/report.js";
import { BoundedCache } from "../../shared/usecases/audits/directoryFacts.js";
import { prepareAuditReportEmail } from "../../shared/usecases/email/auditReport.js";
import { auditRules, type Finding } from "../../shared/model/audits.js";
import { chunkFindings } from "../../shared/store/auditsRepository.js";
import type { MailerDeps } from "../../shared/usecases/email/handler.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import type { SecurityRole, TenantUser } from "../../shared/model/records.js";

const app: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
const auditor: Caller = { principalId: "auditor-app", appRoles: ["Sharing.Audit"] };
const as = (id: string): Caller => ({ principalId: id, appRoles: [] });

type Caps = ReturnType<typeof memoryCaps>["caps"];

async function person(c: Caps, id: string, roles: SecurityRole[] | undefined, extra: Partial<TenantUser> = {}) {
  await putUser(c, app, {
    userId: id,
    email: `${id}@x.test`,
    displayName: id,
    userType: "member",
    enabled: true,
    license: "paid",
    ...extra,
  });
  if (roles) await putMembership(c, app, { envId: "e1", userId: id, securityRoles: roles });
}

/**
 * An environment seeded with exactly one instance of each finding of the resource rules: a guest
 * co-owner, an owner outside the expected groups, a process whose only owner is disabled (which is
 * also the one grant to a disabled user), a flow with one owner too many, and an embedded connection
 * of the disabled user.
 */
async function seeded() {
  const m = memoryCaps();
  const c = m.caps;
  await putEnvironment(c, app, {
    envId: "e1",
    displayName: "Finance",
    isDefault: false,
    sensitive: true,
    expectedOwnerGroupIds: ["makers"],
    maxOwners: 2,
    sovereignCloud: false,
  });
  await person(c, "admin", ["SystemAdministrator"]);
  for (const id of ["maker", "u2", "u3", "leaver"]) await person(c, id, ["EnvironmentMaker"]);
  await person(c, "guest", ["EnvironmentMaker"], { userType: "guest" });
  await person(c, "outsider", ["EnvironmentMaker"]);
  await putGroup(c, app, {
    envId: "e1",
    groupId: "makers",
    displayName: "Makers",
    kind: "securityGroup",
    memberIds: ["maker", "u2", "u3", "leaver", "guest"],
  });
  const put = (id: string, body: Parameters<typeof putResource>[4]) => putResource(c, app, "e1", id, body, undefined);
  await put("p-guest", { kind: "processMining", displayName: "Invoices", creatorId: "maker" });
  await share(c, as("maker"), "e1", "p-guest", {
    role: "coOwner",
    principals: [{ type: "user", id: "guest" }],
    sendInvitation: false,
  });
  await put("p-outside", { kind: "processMining", displayName: "Orders", creatorId: "maker" });
  await share(c, as("maker"), "e1", "p-outside", {
    role: "coOwner",
    principals: [{ type: "user", id: "outsider" }],
    sendInvitation: false,
  });
  await put("p-orphan", { kind: "taskMining", displayName: "Expenses", creatorId: "leaver" });
  await put("f-crowded", {
    kind: "cloudFlow",
    displayName: "Approvals",
    creatorId: "maker",
    solutionAware: true,
    triggerKind: "instant",
  });
  await share(c, as("maker"), "e1", "f-crowded", {
    role: "owner",
    principals: [
      { type: "user", id: "u2" },
      { type: "user", id: "u3" },
    ],
    sendInvitation: false,
  });
  await put("f-conn", {
    kind: "cloudFlow",
    displayName: "Notify",
    creatorId: "maker",
    solutionAware: true,
    triggerKind: "automated",
    connections: [
      { id: "c-leaver", connector: "Outlook", ownerId: "leaver", usage: "embedded" },
      { id: "c-other", connector: "Teams", ownerId: "leaver", usage: "other" },
    ],
  });
  await put("p-clean", { kind: "processMining", displayName: "Clean", creatorId: "maker" });
  await putUser(c, app, {
    userId: "leaver",
    email: "leaver@x.test",
    displayName: "leaver",
    userType: "member",
    enabled: false,
    license: "paid",
  });
  return m;
}

const countByRule = (findings: Finding[]) =>
  Object.fromEntries(auditRules.map((r) => [r, findings.filter((f) => f.rule === r).length]));

describe("compliance audits", () => {
  it("reports one instance of every finding exactly once, and owners added since the last audit", async () => {
    const { caps, sent } = await seeded();
    const first = await requestAudit(caps, as("admin"), "e1");
    expect(first.status).toBe("done");
    const env = await caps.repo.getEnvironment("e1");
    expect(env?.lastAuditAt).toBeDefined();
    // The first audit of a sensitive environment also lists the owners added in the last 30 days.
    const firstReport = await getAudit(caps, as("admin"), "e1", first.auditId);
    expect(
      firstReport.findings
        .filter((f) => f.rule === "ownerAddedSinceLastAudit")
        .map((f) => f.resourceId)
        .sort(),
    ).toEqual(["f-crowded", "f-crowded", "p-guest", "p-outside"]);

    await share(caps, as("maker"), "e1", "p-clean", {
      role: "coOwner",
      principals: [{ type: "user", id: "u2" }],
      sendInvitation: false,
    });
    const second = await requestAudit(caps, auditor, "e1");
    const report = await getAudit(caps, auditor, "e1", second.auditId);
    expect(report.status).toBe("done");
    expect(countByRule(report.findings)).toEqual(Object.fromEntries(auditRules.map((r) => [r, 1])));
    const by = (rule: string) => report.findings.find((f) => f.rule === rule);
    expect(by("guestOwner")).toMatchObject({ resourceId: "p-guest", principalId: "guest", severity: "high" });
    expect(by("ownerOutsideExpectedGroups")).toMatchObject({ resourceId: "p-outside", principalId: "outsider" });
    expect(by("noEnabledOwner")).toMatchObject({ resourceId: "p-orphan" });
    expect(by("disabledUserGrant")).toMatchObject({ resourceId: "p-orphan", principalId: "leaver" });
    expect(by("tooManyOwners")).toMatchObject({ resourceId: "f-crowded" });
    expect(by("disabledConnectionOwner")).toMatchObject({ resourceId: "f-conn", principalId: "leaver" });
    expect(by("ownerAddedSinceLastAudit")).toMatchObject({ resourceId: "p-clean", principalId: "u2" });
    expect(report.findings.map((f) => f.severity)).toEqual(
      [...report.findings.map((f) => f.severity)].sort(
        (a, b) => ["high", "medium", "low"].indexOf(a) - ["high", "medium", "low"].indexOf(b),
      ),
    );
    expect(report.stats).toMatchObject({ resources: 6, findings: 7 });
    expect(sent.filter((j) => j.kind === "auditReport")).toEqual([
      { kind: "auditReport", envId: "e1", auditId: first.auditId },
      { kind: "auditReport", envId: "e1", auditId: second.auditId },
    ]);
  });

  it("counts owners through a group with an enabled member as enabled owners, and not through an empty one", async () => {
    const { caps } = await seeded();
    await putGroup(caps, app, {
      envId: "e1",
      groupId: "rescue",
      displayName: "Rescue",
      kind: "securityGroup",
      memberIds: ["u3"],
    });
    await putGroup(caps, app, {
      envId: "e1",
      groupId: "empty",
      displayName: "Empty",
      kind: "securityGroup",
      memberIds: [],
    });
    await putUser(caps, app, {
      userId: "leaver2",
      email: "l2@x.test",
      displayName: "l2",
      userType: "member",
      enabled: true,
      license: "paid",
    });
    await putMembership(caps, app, { envId: "e1", userId: "leaver2", securityRoles: ["EnvironmentMaker"] });
    await putGroup(caps, app, {
      envId: "e1",
      groupId: "makers",
      displayName: "Makers",
      kind: "securityGroup",
      memberIds: ["maker", "u2", "u3", "leaver", "guest", "leaver2"],
    });
    await putResource(
      caps,
      app,
      "e1",
      "f-a",
      { kind: "cloudFlow", displayName: "A", creatorId: "leaver2", solutionAware: true, triggerKind: "instant" },
      undefined,
    );
    await putResource(
      caps,
      app,
      "e1",
      "f-b",
      { kind: "cloudFlow", displayName: "B", creatorId: "leaver2", solutionAware: true, triggerKind: "instant" },
      undefined,
    );
    await share(caps, as("leaver2"), "e1", "f-a", {
      role: "owner",
      principals: [{ type: "group", id: "rescue" }],
      sendInvitation: false,
    });
    await share(caps, as("leaver2"), "e1", "f-b", {
      role: "owner",
      principals: [{ type: "group", id: "empty" }],
      sendInvitation: false,
    });
    await putUser(caps, app, {
      userId: "leaver2",
      email: "l2@x.test",
      displayName: "l2",
      userType: "member",
      enabled: false,
      license: "paid",
    });
    const { auditId } = await requestAudit(caps, app, "e1");
    const report = await getAudit(caps, app, "e1", auditId);
    const orphans = report.findings
      .filter((f) => f.rule === "noEnabledOwner")
      .map((f) => f.resourceId)
      .sort();
    expect(orphans).toEqual(["f-b", "p-orphan"]);
    // Groups outside the expected owner groups are flagged as owners too.
    expect(
      report.findings
        .filter((f) => f.rule === "ownerOutsideExpectedGroups")
        .map((f) => f.principalId)
        .sort(),
    ).toEqual(["empty", "outsider", "rescue"]);
  });

  it("goes page by page within a budget, resumes from the last page, and ends with the same report", async () => {
    const { caps } = await seeded();
    const whole = await requestAudit(caps, app, "e1", { pageSize: 2 });
    const expected = await getAudit(caps, app, "e1", whole.auditId);
    const lines: string[] = [];
    const started = await requestAudit(caps, app, "e1", { pageSize: 2, budgetMs: 0, progress: (l) => lines.push(l) });
    expect(started.status).toBe("running");
    const partial = await getAudit(caps, app, "e1", started.auditId);
    expect(partial.status).toBe("running");
    expect(partial.stats.pages).toBe(1);
    for (let i = 0; i < 10; i++)
      await continuePendingAudits(caps, { pageSize: 2, budgetMs: 0, progress: (l) => lines.push(l) });
    const report = await getAudit(caps, app, "e1", started.auditId);
    expect(report.status).toBe("done");
    expect(report.stats.pages).toBe(3);
    expect(lines.some((l) => /3 page\(s\), 6 resources/.test(l))).toBe(true);
    // The second audit ran after the first: only the owners-added rule differs.
    const strip = (fs: Finding[]) => fs.filter((f) => f.rule !== "ownerAddedSinceLastAudit");
    expect(strip(report.findings)).toEqual(strip(expected.findings));
    expect(await continuePendingAudits(caps)).toBe(0);
  });

  it("leaves an audit leased by a live runner alone, and takes over one whose lease ran out", async () => {
    const { caps } = await seeded();
    const { auditId } = await requestAudit(caps, app, "e1", { pageSize: 2, budgetMs: 0 });
    const audits = caps.audits;
    const lease = async (ms: number) => {
      const got = (await audits.getRun("e1", auditId))!;
      await audits.putRun(
        { ...got.run, leaseId: "elsewhere", leaseUntil: new Date(Date.now() + ms).toISOString() },
        got.etag,
      );
    };
    await lease(60_000);
    const held = await runAudit(caps, "e1", auditId, { pageSize: 2 });
    expect(held).toMatchObject({ status: "running", leaseId: "elsewhere" });
    expect(held?.stats.pages).toBe(1);
    await lease(-1);
    const taken = await runAudit(caps, "e1", auditId, { pageSize: 2 });
    expect(taken).toMatchObject({ status: "done", stats: { pages: 3 } });
    expect(taken?.leaseId).toBeUndefined();
  });

  it("audits every environment once per timer firing", async () => {
    const { caps, sent } = await seeded();
    await putEnvironment(caps, app, {
      envId: "e2",
      displayName: "Empty",
      isDefault: false,
      sensitive: false,
      expectedOwnerGroupIds: [],
      sovereignCloud: false,
    });
    const a = await auditEveryEnvironment(caps);
    expect(a).toEqual({ created: 2, finished: 2 });
    // A second firing in the same minute (two instances, a retry) finds the same audits, already done.
    const b = await auditEveryEnvironment(caps);
    expect(b.finished).toBe(2);
    const id = scheduledAuditId(new Date());
    expect((await getAudit(caps, app, "e2", id)).status).toBe("done");
    expect(
      sent
        .filter((j) => j.kind === "auditReport")
        .map((j) => (j.kind === "auditReport" ? `${j.envId}/${j.auditId}` : ""))
        .sort(),
    ).toEqual([`e1/${id}`, `e2/${id}`]);
  });

  it("is for environment admins and Sharing.Audit or Sharing.Admin apps", async () => {
    const { caps } = await seeded();
    await expect(requestAudit(caps, as("maker"), "e1")).rejects.toMatchObject({ code: "forbidden" });
    await expect(requestAudit(caps, as("stranger"), "e1")).rejects.toMatchObject({ code: "notFound" });
    await expect(
      requestAudit(caps, { principalId: "checker", appRoles: ["Sharing.Check"] }, "e1"),
    ).rejects.toMatchObject({ code: "notFound" });
    const { auditId } = await requestAudit(caps, as("admin"), "e1");
    await expect(getAudit(caps, as("maker"), "e1", auditId)).rejects.toMatchObject({ code: "forbidden" });
    await expect(getAudit(caps, as("admin"), "e1", "nope")).rejects.toMatchObject({ code: "notFound" });
    await expect(runAudit(caps, "e1", "nope")).resolves.toBeUndefined();
  });

  it("emails the admins a summary: counts per rule worst first, the worst findings, the link", async () => {
    const { caps } = await seeded();
    const { auditId } = await requestAudit(caps, app, "e1");
    const deps: MailerDeps = {
      ...caps,
      sender: { send: async () => ({ messageId: "x" }) },
      invitations: { signingKey: "k".repeat(32), publicBaseUrl: "https://api.test/", appBaseUrl: "https://app.test" },
    };
    const prepared = await prepareAuditReportEmail(deps, { kind: "auditReport", envId: "e1", auditId });
    if ("skip" in prepared) throw new Error(prepared.skip);
    expect(prepared.email.to).toEqual([{ address: "admin@x.test", displayName: "admin" }]);
    expect(prepared.email.subject).toMatch(/^\[Finance\] Sharing audit: \d+ findings$/);
    expect(prepared.email.plainText).toContain(`https://api.test/api/environments/e1/audits/${auditId}`);
    expect(prepared.email.html).toContain(`href="https://api.test/api/environments/e1/audits/${auditId}"`);
    const order = [
      "Resources with no enabled owner",
      "Embedded connections owned by disabled users",
      "Guest owners",
      "Owners and co-owners added since the last audit",
      "Owners outside the expected owner groups",
      "Grants to disabled users",
      "Flows with more owners than allowed",
    ];
    const at = order.map((t) => prepared.email.plainText.indexOf(t));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect(at.slice(0, 3)).toEqual([...at.slice(0, 3)].sort((a, b) => a - b));
    expect(prepared.email.plainText.indexOf(order[0]!)).toBeLessThan(prepared.email.plainText.indexOf(order[5]!));
    expect(await prepareAuditReportEmail(deps, { kind: "auditReport", envId: "e1", auditId: "nope" })).toHaveProperty(
      "skip",
    );
  });

  it("writes CSV with every field quoted and formulas defused", () => {
    const csv = findingsCsv([
      { rule: "guestOwner", severity: "high", resourceId: "r1", principalId: "u1", detail: 'say "hi", then\nleave' },
      { rule: "tooManyOwners", severity: "low", resourceId: "r2", detail: '=HYPERLINK("http://evil")' },
      { rule: "tooManyOwners", severity: "low", detail: "+1" },
      { rule: "tooManyOwners", severity: "low", detail: "@SUM(A1)" },
      { rule: "tooManyOwners", severity: "low", detail: "-2" },
    ]);
    const lines = csv.split("\r\n");
    expect(lines[0]).toBe('"rule","severity","resourceId","principalId","detail"');
    expect(lines[1]).toBe('"guestOwner","high","r1","u1","say ""hi"", then\nleave"');
    expect(lines[2]).toBe('"tooManyOwners","low","r2","","\'=HYPERLINK(""http://evil"")"');
    expect(lines.slice(3, 6).map((l) => l.split(",").at(-1))).toEqual(['"\'+1"', '"\'@SUM(A1)"', '"\'-2"']);
    expect(csv.endsWith("\r\n")).toBe(true);
  });

  it("keeps chunks under a table property's size and caches a bounded number of profiles", () => {
    const many: Finding[] = Array.from({ length: 500 }, (_, i) => ({
      rule: "disabledUserGrant",
      severity: "low",
      resourceId: `r${i}`,
      principalId: `u${i}`,
      detail: "x".repeat(300),
    }));
    const chunks = chunkFindings(many);
    expect(chunks.flat()).toEqual(many);
    for (const c of chunks) expect(JSON.stringify({ findings: c }).length).toBeLessThan(32_000);
    const cache = new BoundedCache<string, number>(3);
    for (let i = 0; i < 10; i++) cache.getOrAdd(`k${i}`, () => i);
    expect(cache.size).toBe(3);
    expect(cache.getOrAdd("k9", () => -1)).toBe(9);
    expect(cache.getOrAdd("k0", () => -1)).toBe(-1);
  });

  it("streams 100,000 grants with a bounded profile cache", { timeout: 120_000 }, async () => {
    const m = memoryCaps();
    const c = m.caps;
    await putEnvironment(c, app, {
      envId: "e1",
      displayName: "Big",
      isDefault: false,
      sensitive: false,
      expectedOwnerGroupIds: [],
      sovereignCloud: false,
    });
    await person(c, "owner", ["EnvironmentMaker"]);
    const users = 2_000;
    for (let u = 0; u < users; u++) {
      await c.repo.rows.transact(c.repo.tables.principals, `user|v${u}`, [
        {
          op: "upsert",
          rk: "profile",
          fields: {
            json: JSON.stringify({
              userId: `v${u}`,
              email: `v${u}@x.test`,
              displayName: `v${u}`,
              userType: "member",
              enabled: u % 500 !== 0,
              license: "paid",
            }),
          },
        },
      ]);
    }
    const now = new Date().toISOString();
    const resources = 1_000;
    for (let r = 0; r < resources; r++) {
      const resource = {
        envId: "e1",
        resourceId: `r${r}`,
        kind: "processMining" as const,
        displayName: `R ${r}`,
        creatorId: "owner",
        ownerId: "owner",
        createdAt: now,
        updatedAt: now,
      };
      const grant = (i: number) => ({
        principalType: "user" as const,
        principalId: `v${(r * 100 + i) % users}`,
        role: "viewer" as const,
        grantedBy: "owner",
        grantedAt: now,
      });
      await c.repo.commit({
        etag: "new",
        resource,
        putGrants: [
          { principalType: "user", principalId: "owner", role: "owner", grantedBy: "owner", grantedAt: now },
          ...Array.from({ length: 49 }, (_, i) => grant(i)),
        ],
      });
      const state = await c.repo.resourceState("e1", `r${r}`);
      await c.repo.commit({
        etag: state!.etag,
        resource,
        putGrants: Array.from({ length: 50 }, (_, i) => grant(49 + i)),
      });
      await c.repo.putCatalog(resource);
    }
    const lines: string[] = [];
    const { auditId } = await requestAudit(c, app, "e1", {
      progress: (l) => lines.push(l),
      userCacheSize: 500,
      pageSize: 200,
    });
    const report = await getAudit(c, app, "e1", auditId);
    expect(report.status).toBe("done");
    expect(report.stats).toMatchObject({ resources, grants: resources * 100, pages: 5 });
    // Users v0, v500, v1000, v1500 are disabled; each appears in 50 grants.
    expect(report.stats.byRule.disabledUserGrant).toBe(4 * 50);
    expect(lines.filter((l) => /page\(s\)/.test(l))).toHaveLength(5);
    const runs = c.audits;
    expect((await runs.getRun("e1", auditId))?.run.top).toHaveLength(20);
  });
});
