import { describe, expect, it } from "vitest";
import { memoryCaps } from "../support/memoryCaps.js";
import { putEnvironment, putGroup, putMembership, putUser } from "../../shared/usecases/directory.js";
import { putResource } from "../../shared/usecases/resources.js";
import { share } from "../../shared/usecases/sharing.js";
import { offboard } from "../../shared/usecases/offboarding.js";
import { removeMember } from "../../shared/usecases/leavers.js";
import {
  auditEveryEnvironment,
  continuePendingAudits,
  requestAudit,
  scheduledAuditId,
} from "../../shared/usecases/audits/request.js";
import { runAudit } from "../../shared/usecases/audits/run.js";
import { findingsCsv, getAudit, type AuditReport } from "../../shared/usecases/audits/report.js";
import { verifyReportToken } from "../../shared/reports/token.js";
import { BoundedCache } from "../../shared/usecases/audits/directoryFacts.js";
import { prepareAuditReportEmail } from "../../shared/usecases/email/auditReport.js";
import { auditRules, type Finding } from "../../shared/model/audits.js";
import { chunkFindings } from "../../shared/store/auditsRepository.js";
import type { MailerDeps } from "../../shared/usecases/email/handler.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import type { Group, SecurityRole, TenantUser } from "../../shared/model/records.js";
import { MemoryRowStore } from "../../shared/adapters/memory/memoryRowStore.js";
import type { PartitionRange, RowKeyRange, WriteOp } from "../../shared/ports/rows.js";
import { keys } from "../../shared/store/keys.js";
import { encodeRow } from "../../shared/store/rowJson.js";
import { outboxItems } from "../../shared/usecases/mutate.js";
import { sweepOutbox } from "../../shared/usecases/relay.js";

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

/** A group and its members, through the use case (which writes the `ug|` rows the audit reads). */
async function group(c: Caps, g: Omit<Group, "envId"> & { envId?: string; memberIds: string[] }) {
  await putGroup(c, app, { ...g, envId: g.envId ?? "e1" });
}

/** A memory store that dies (throws) on one chosen range scan, as a runner killed mid-walk would stop. */
class CrashingStore extends MemoryRowStore {
  scans = 0;
  crashAt = Infinity;
  override async scanRange(
    table: string,
    partitions: PartitionRange,
    ranges: readonly RowKeyRange[],
    options?: { continuation?: string | undefined; pageSize?: number },
  ) {
    // Only the resources' pages count: the directory's groups are one scan of their own.
    if (table.endsWith("Resources") && ++this.scans === this.crashAt) throw new Error("the runner died");
    return super.scanRange(table, partitions, ranges, options);
  }
}

/**
 * An environment seeded with exactly one instance of each finding of the resource rules: a guest
 * co-owner, an owner outside the expected groups, a process whose only owner is disabled (which is
 * also the one grant to a disabled user), a flow with one owner too many, and an embedded connection
 * of the disabled user.
 */
async function seeded(store = new MemoryRowStore()) {
  const m = memoryCaps(store);
  const c = m.caps;
  await putEnvironment(c, app, {
    envId: "e1",
    displayName: "Finance",
    isDefault: false,
    sensitive: true,
    expectedOwnerGroupIds: ["makers"],
    maxOwners: 2,
    sovereignCloud: false,
    // Outlook (f-conn's) is unlisted, so non-business; f-conn is shared with nobody, so no DLP finding.
    dlp: { business: ["SharePoint"], blocked: ["Twitter"] },
  });
  await person(c, "admin", ["SystemAdministrator"]);
  for (const id of ["maker", "u2", "u3", "leaver"]) await person(c, id, ["EnvironmentMaker"]);
  await person(c, "guest", ["EnvironmentMaker"], { userType: "guest" });
  await person(c, "outsider", ["EnvironmentMaker"]);
  await group(c, {
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
    // An ownerless flow: its owner offboarded with nobody able to own it (the other owner has no maker role).
    await person(caps, "gone", ["EnvironmentMaker"]);
    await person(caps, "basic", ["BasicUser"]);
    await group(caps, {
      groupId: "makers",
      displayName: "Makers",
      kind: "securityGroup",
      memberIds: ["maker", "u2", "u3", "leaver", "guest", "gone", "basic"],
    });
    await putResource(
      caps,
      app,
      "e1",
      "f-vacant",
      { kind: "cloudFlow", displayName: "Vacant", creatorId: "gone", solutionAware: true, triggerKind: "automated" },
      undefined,
    );
    await share(caps, as("gone"), "e1", "f-vacant", {
      role: "owner",
      principals: [{ type: "user", id: "basic" }],
      sendInvitation: false,
    });
    const off = await offboard(caps, app, "e1", { userId: "gone", dryRun: false });
    expect(off.ownerless.map((o) => o.resourceId)).toEqual(["f-vacant"]);
    // basic, left owning f-vacant, holds no maker role: ownerWithoutMakerRole.
    // A flow with a non-business connector, shared run-only: nonBusinessFlowShared.
    await putResource(
      caps,
      app,
      "e1",
      "f-dlp",
      {
        kind: "cloudFlow",
        displayName: "Mail out",
        creatorId: "maker",
        solutionAware: true,
        triggerKind: "instant",
        connections: [{ id: "c-gmail", connector: "Gmail", ownerId: "maker", usage: "embedded" }],
      },
      undefined,
    );
    const runOnly = await share(caps, as("maker"), "e1", "f-dlp", {
      role: "runOnly",
      principals: [{ type: "user", id: "u3" }],
      sendInvitation: false,
    });
    expect(runOnly.warnings).toEqual([expect.stringContaining('"Gmail"')]);
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
    ).toEqual(["f-crowded", "f-crowded", "f-vacant", "p-guest", "p-outside"]);

    await share(caps, as("maker"), "e1", "p-clean", {
      role: "coOwner",
      principals: [{ type: "user", id: "u2" }],
      sendInvitation: false,
    });
    // Time-bound grants: one ending within 14 days, and, once guests' grants are capped, the guest's
    // coOwner grant that has no expiry.
    await share(caps, as("maker"), "e1", "p-clean", {
      role: "viewer",
      principals: [{ type: "user", id: "u3" }],
      sendInvitation: false,
      expiresAt: new Date(Date.now() + 5 * 86_400_000).toISOString(),
    });
    const { lastAuditAt: _lastAudit, ...settings } = (await caps.repo.getEnvironment("e1"))!;
    await putEnvironment(caps, app, { ...settings, guestMaxGrantDays: 7 });
    const second = await requestAudit(caps, auditor, "e1");
    const report = await getAudit(caps, auditor, "e1", second.auditId);
    expect(report.status).toBe("done");
    // With autoOffboard off, an owner who is no member is a leaver (leaverNotOffboarded), never also
    // ownerNotMember, so that one can't appear here: see "flags owners who are not members" below.
    expect(countByRule(report.findings)).toEqual(
      Object.fromEntries(auditRules.map((r) => [r, r === "ownerNotMember" ? 0 : 1])),
    );
    const by = (rule: string) => report.findings.find((f) => f.rule === rule);
    expect(by("guestOwner")).toMatchObject({ resourceId: "p-guest", principalId: "guest", severity: "high" });
    expect(by("ownerOutsideExpectedGroups")).toMatchObject({ resourceId: "p-outside", principalId: "outsider" });
    expect(by("noEnabledOwner")).toMatchObject({ resourceId: "p-orphan" });
    expect(by("disabledUserGrant")).toMatchObject({ resourceId: "p-orphan", principalId: "leaver" });
    expect(by("tooManyOwners")).toMatchObject({ resourceId: "f-crowded" });
    expect(by("disabledConnectionOwner")).toMatchObject({ resourceId: "f-conn", principalId: "leaver" });
    expect(by("ownerAddedSinceLastAudit")).toMatchObject({ resourceId: "p-clean", principalId: "u2" });
    expect(by("ownerlessResource")).toMatchObject({ resourceId: "f-vacant", principalId: "gone", severity: "high" });
    expect(by("leaverNotOffboarded")).toMatchObject({ resourceId: "p-orphan", principalId: "leaver" });
    expect(by("ownerWithoutMakerRole")).toMatchObject({ resourceId: "f-vacant", principalId: "basic" });
    expect(by("nonBusinessFlowShared")).toMatchObject({ resourceId: "f-dlp", severity: "medium" });
    expect(by("nonBusinessFlowShared")?.detail).toContain(`run-only user u3`);
    expect(report.findings.map((f) => f.severity)).toEqual(
      [...report.findings.map((f) => f.severity)].sort(
        (a, b) => ["high", "medium", "low"].indexOf(a) - ["high", "medium", "low"].indexOf(b),
      ),
    );
    expect(report.stats).toMatchObject({ resources: 8, findings: 13 });
    expect(sent.filter((j) => j.kind === "auditReport")).toEqual([
      { kind: "auditReport", envId: "e1", auditId: first.auditId },
      { kind: "auditReport", envId: "e1", auditId: second.auditId },
    ]);
  });

  it("flags owners who are not members once autoOffboard is on, and owners without a maker role", async () => {
    const { caps } = await seeded();
    await person(caps, "reader", ["BasicUser"]);
    await share(caps, as("maker"), "e1", "p-clean", {
      role: "coOwner",
      principals: [
        { type: "user", id: "u2" },
        { type: "user", id: "reader" },
      ],
      sendInvitation: false,
    });
    // u2 leaves while autoOffboard is off (nothing offboards them), then the admin turns it on.
    await removeMember(caps, app, "e1", "u2");
    const env = await caps.repo.getEnvironment("e1");
    await putEnvironment(caps, app, { ...env!, autoOffboard: true });
    const run = await requestAudit(caps, as("admin"), "e1");
    const report = await getAudit(caps, as("admin"), "e1", run.auditId);
    const on = (r: string) =>
      report.findings.filter((f) => f.resourceId === r).map((f) => `${f.rule}:${f.principalId}`);
    expect(on("p-clean").sort()).toEqual([
      "ownerAddedSinceLastAudit:reader",
      "ownerAddedSinceLastAudit:u2",
      "ownerNotMember:u2",
      "ownerOutsideExpectedGroups:reader",
      "ownerWithoutMakerRole:reader",
    ]);
    // u2 also owns f-crowded: flagged there too, and not as a leaver, since autoOffboard is on.
    expect(on("f-crowded")).toContain("ownerNotMember:u2");
    expect(report.findings.filter((f) => f.rule === "leaverNotOffboarded")).toEqual([]);
  });

  it("counts owners through a group with an enabled member as enabled owners, and not through an empty one", async () => {
    const { caps } = await seeded();
    await group(caps, {
      groupId: "rescue",
      displayName: "Rescue",
      kind: "securityGroup",
      memberIds: ["u3"],
    });
    await group(caps, {
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
    await group(caps, {
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

  it("walks the resources a page of rows at a time within a budget, resumes from the last page, and ends with the same report", async () => {
    const { caps } = await seeded();
    // 2 rows a page: resources' rows (grants, then meta) run across pages, so some pages end inside one.
    const whole = await requestAudit(caps, app, "e1", { pageSize: 2 });
    const expected = await getAudit(caps, app, "e1", whole.auditId);
    expect(expected.stats).toMatchObject({ resources: 6, grants: 10, pages: 8 });
    const lines: string[] = [];
    const started = await requestAudit(caps, app, "e1", { pageSize: 2, budgetMs: 0, progress: (l) => lines.push(l) });
    expect(started.status).toBe("running");
    const partial = await getAudit(caps, app, "e1", started.auditId);
    expect(partial.status).toBe("running");
    expect(partial.stats.pages).toBe(1);
    for (let i = 0; i < 20; i++)
      await continuePendingAudits(caps, { pageSize: 2, budgetMs: 0, progress: (l) => lines.push(l) });
    const report = await getAudit(caps, app, "e1", started.auditId);
    expect(report.status).toBe("done");
    // A resource open at a stop is read again from its first row: pages count those reads too.
    expect(report.stats).toMatchObject({ resources: 6, grants: 10 });
    expect(report.stats.pages).toBeGreaterThanOrEqual(8);
    expect(lines.some((l) => /page\(s\), 6 resources, 10 grants/.test(l))).toBe(true);
    // The second audit ran after the first: only the owners-added rule differs.
    const strip = (fs: Finding[]) => fs.filter((f) => f.rule !== "ownerAddedSinceLastAudit");
    expect(strip(report.findings)).toEqual(strip(expected.findings));
    expect(await continuePendingAudits(caps)).toBe(0);
  });

  it("resumes a walk that died mid-page at the resource left open, counting nothing twice", async () => {
    const clean = await seeded();
    const expected = await getAudit(
      clean.caps,
      app,
      "e1",
      (await requestAudit(clean.caps, app, "e1", { pageSize: 2 })).auditId,
    );
    for (const crashAt of [2, 3, 5, 8]) {
      const store = new CrashingStore();
      const { caps, logs } = await seeded(store);
      store.scans = 0;
      store.crashAt = crashAt;
      const started = await requestAudit(caps, app, "e1", { pageSize: 2 });
      expect(logs.some((l) => l.includes("the runner died"))).toBe(true);
      const stopped = (await caps.audits.getRun("e1", started.auditId))!.run;
      expect(stopped).toMatchObject({ status: "running", attempts: 1, stats: { pages: crashAt - 1 } });
      expect(stopped.leaseId).toBeUndefined();
      expect(await continuePendingAudits(caps, { pageSize: 2 })).toBe(1);
      const report = await getAudit(caps, app, "e1", started.auditId);
      expect(report.stats).toMatchObject({ resources: 6, grants: 10, findings: expected.stats.findings });
      // Each world was seeded at its own time, which the owners-added findings' details name.
      const timeless = (fs: Finding[]) => fs.map((f) => ({ ...f, detail: f.detail.replace(/ at \S+ /, " ") }));
      expect(timeless(report.findings)).toEqual(timeless(expected.findings));
    }
  });

  it("starts over a run left with a cursor of the catalog walk it used to make", async () => {
    const { caps } = await seeded();
    const { auditId } = await requestAudit(caps, app, "e1", { pageSize: 2, budgetMs: 0 });
    const got = (await caps.audits.getRun("e1", auditId))!;
    await caps.audits.putRun({ ...got.run, cursor: Buffer.from("resource|p-guest").toString("base64url") }, got.etag);
    await continuePendingAudits(caps);
    const report = await getAudit(caps, app, "e1", auditId);
    expect(report).toMatchObject({ status: "done", stats: { resources: 6, grants: 10, pages: 1 } });
    expect(countByRule(report.findings)).toMatchObject({ noEnabledOwner: 1, guestOwner: 1, tooManyOwners: 1 });
  });

  it("audits only its own environment, not one whose id starts with its id", async () => {
    const { caps } = await seeded();
    await putEnvironment(caps, app, {
      envId: "e10",
      displayName: "Neighbour",
      isDefault: false,
      sensitive: false,
      expectedOwnerGroupIds: [],
      sovereignCloud: false,
    });
    await putMembership(caps, app, { envId: "e10", userId: "leaver", securityRoles: ["EnvironmentMaker"] });
    await putResource(
      caps,
      app,
      "e10",
      "p-next-door",
      { kind: "processMining", displayName: "Next door", creatorId: "leaver" },
      undefined,
    );
    const mine = await getAudit(caps, app, "e1", (await requestAudit(caps, app, "e1", { pageSize: 3 })).auditId);
    expect(mine.stats).toMatchObject({ resources: 6, grants: 10 });
    expect(mine.findings.some((f) => f.resourceId === "p-next-door")).toBe(false);
    const theirs = await getAudit(caps, app, "e10", (await requestAudit(caps, app, "e10")).auditId);
    expect(theirs.stats).toMatchObject({ resources: 1, grants: 1 });
    expect(theirs.findings.map((f) => `${f.rule} ${f.resourceId}`).sort()).toEqual([
      "disabledUserGrant p-next-door",
      "leaverNotOffboarded p-next-door",
      "noEnabledOwner p-next-door",
    ]);
  });

  it("takes guest and disabled facts from the environment's member rows, and follows a profile change the sweeper relays", async () => {
    const { caps } = await seeded();
    const byRule = async () => {
      const { auditId } = await requestAudit(caps, app, "e1");
      return countByRule((await getAudit(caps, app, "e1", auditId)).findings);
    };
    expect(await byRule()).toMatchObject({ guestOwner: 1, disabledUserGrant: 1, noEnabledOwner: 1 });
    // The member row is what the audit reads: facts put there (as the relay would) count, whatever the profile.
    await caps.repo.memberFacts.set("e1", "u2", { enabled: false, userType: "guest" });
    expect(await byRule()).toMatchObject({ guestOwner: 2, disabledUserGrant: 2, noEnabledOwner: 1 });
    await caps.repo.memberFacts.set("e1", "u2", { enabled: true, userType: "member" });
    // A profile change whose relay never ran (a crash right after its transaction): the audit still
    // sees the old facts, until the sweeper relays the outbox row left in the user's partition.
    const maker = (await caps.repo.getUser("maker"))!;
    const [item] = outboxItems(caps, [{ type: "memberFacts", userId: "maker" }]);
    await caps.repo.putUser({ ...maker, enabled: false }, item);
    expect(await byRule()).toMatchObject({ disabledUserGrant: 1, noEnabledOwner: 1 });
    expect(await sweepOutbox(caps)).toBe(1);
    // maker owns five resources: each is a grant to a disabled user, and all but f-crowded lose their last enabled owner.
    expect(await byRule()).toMatchObject({ disabledUserGrant: 6, noEnabledOwner: 5 });
  });

  it("reads the directory and the resources by range: the requests follow pages, not users or resources", async () => {
    const { caps, store } = await seeded();
    const calls: string[] = [];
    const spy = <K extends "get" | "queryPage" | "scanRange">(name: K) => {
      const f = store[name].bind(store) as (...a: unknown[]) => Promise<unknown>;
      (store as unknown as Record<K, unknown>)[name] = (...a: unknown[]) => {
        calls.push(`${name} ${String(a[0]).replace(/^t/, "")}`);
        return f(...a);
      };
    };
    spy("get");
    spy("queryPage");
    spy("scanRange");
    await requestAudit(caps, app, "e1", { pageSize: 4 });
    const reads = calls.filter((c) => !/Audits|Environments|Changes/.test(c));
    // The directory's members in one query and the groups of its membership buckets in one scan,
    // then 16 rows of resources in 4 pages.
    expect(reads.slice(0, 2).sort()).toEqual(["queryPage Directory", "scanRange Directory"]);
    expect(reads.slice(2)).toEqual(Array<string>(4).fill("scanRange Resources"));
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
    expect(taken).toMatchObject({ status: "done", stats: { pages: 8 } });
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
    // The button opens the signed report page; the API route is named beside it.
    expect(prepared.email.plainText).toContain(`https://api.test/api/environments/e1/audits/${auditId}`);
    const link = /href="(https:\/\/api\.test\/api\/reports\/[^"]+)"/.exec(prepared.email.html)?.[1];
    expect(link).toBeDefined();
    expect(prepared.email.plainText).toContain(link);
    const check = await verifyReportToken("k".repeat(32), decodeURIComponent(link!.split("/").pop()!));
    expect(check).toMatchObject({ ok: true, claims: { envId: "e1", auditId } });
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

  it("streams 100,000 grants by range, with requests that follow the pages", { timeout: 120_000 }, async () => {
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
    // The members as rows of the environment's directory partition, with the facts the audit reads.
    const users = 2_000;
    const members = Array.from({ length: users }, (_, u) => ({
      op: "upsert" as const,
      rk: keys.envMemberRk(`v${u}`),
      fields: encodeRow({
        envId: "e1",
        userId: `v${u}`,
        securityRoles: ["EnvironmentMaker"],
        addedBy: "admin",
        facts: { enabled: u % 500 !== 0, userType: "member" },
      }),
    }));
    for (let i = 0; i < users; i += 100)
      await c.repo.rows.transact(c.repo.tables.directory, keys.directoryPk("e1"), members.slice(i, i + 100));
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
    const before = m.store.requests;
    const { auditId } = await requestAudit(c, app, "e1", { progress: (l) => lines.push(l) });
    // 101 pages of resources, a page of members, each page's findings, inventory and run row, the trend row, and a few more.
    expect(m.store.requests - before).toBeLessThan(101 * 4 + 21);
    const report = await getAudit(c, app, "e1", auditId);
    expect(report.status).toBe("done");
    // 1,000 meta rows and 100,000 grants, 1,000 rows a page.
    expect(report.stats).toMatchObject({ resources, grants: resources * 100, pages: 101 });
    // Users v0, v500, v1000, v1500 are disabled; each appears in 50 grants.
    expect(report.stats.byRule.disabledUserGrant).toBe(4 * 50);
    expect(lines.filter((l) => /page\(s\)/.test(l))).toHaveLength(101);
    // The inventory: every resource once, a point read a page, following the continuation tokens.
    const seen = new Set<string>();
    let token: string | undefined;
    let pages = 0;
    do {
      const readsBefore = m.store.requests;
      const page: AuditReport["inventory"] = (await getAudit(c, app, "e1", auditId, token)).inventory;
      pages++;
      expect(page.items.length).toBeGreaterThan(0);
      for (const item of page.items) {
        expect(seen.has(item.resourceId)).toBe(false);
        seen.add(item.resourceId);
        expect(item.owners.length).toBe(Math.min(item.ownerCount, 50));
      }
      token = page.continuationToken;
      expect(m.store.requests - readsBefore).toBeLessThan(10);
    } while (token);
    expect(seen.size).toBe(resources);
    expect(pages).toBeGreaterThan(1);
    const runs = c.audits;
    expect((await runs.getRun("e1", auditId))?.run.top).toHaveLength(20);
  });
});

/**
 * A memory store that fails chosen writes, as storage that goes down between two of them would, and
 * (as Azurite does) leaves the ETags of replaced and upserted rows out of a batch's answer.
 */
class FaultyStore extends MemoryRowStore {
  /** The change log's table refuses writes. */
  changesDown = false;
  /** Outbox rows of an audit's partition can't be deleted (the relay dies after applying them). */
  auditOutboxDeleteDown = false;
  /** An audit's completion (its run row with the outbox row) can't be written. */
  auditCompletionDown = false;

  override async transact(table: string, pk: string, ops: readonly WriteOp[]): Promise<Map<string, string>> {
    const outboxOp = (op: WriteOp["op"]) => ops.some((o) => o.op === op && o.rk.startsWith(keys.outboxPrefix));
    if (this.changesDown && table.endsWith("Changes")) throw new Error("the change log is down");
    if (this.auditOutboxDeleteDown && table.endsWith("Audits") && outboxOp("delete")) throw new Error("relay died");
    if (this.auditCompletionDown && table.endsWith("Audits") && outboxOp("upsert")) throw new Error("audits down");
    const etags = await super.transact(table, pk, ops);
    if (ops.length > 1) for (const o of ops) if (o.op !== "insert") etags.delete(o.rk);
    return etags;
  }
}

describe("the audit.completed change log entry", () => {
  const completed = async (c: Caps, envId = "e1") => {
    const entries = [];
    let continuation: string | undefined;
    do {
      const page = await c.repo.environmentChanges(envId, continuation, 1000);
      entries.push(...page.items.filter((e) => e.action === "audit.completed"));
      continuation = page.continuation;
    } while (continuation);
    return entries;
  };
  const events = (webhooks: ReturnType<typeof memoryCaps>["webhooks"]) =>
    webhooks.flatMap((w) =>
      w.message.kind === "event" && w.message.event.type === "sharing.audit.completed" ? [w.message.event] : [],
    );
  const pendingIds = async (c: Caps) => {
    const ids: string[] = [];
    for await (const p of c.audits.pending()) ids.push(p.auditId);
    return ids;
  };

  it("is written once when an audit finishes, with its counts by severity, and again by nothing that runs it later", async () => {
    const store = new FaultyStore();
    const { caps, webhooks } = await seeded(store);
    const { auditId, status } = await requestAudit(caps, as("admin"), "e1");
    expect(status).toBe("done");
    const report = await getAudit(caps, app, "e1", auditId);
    const n = (s: string) => report.findings.filter((f) => f.severity === s).length;
    const [entry, ...more] = await completed(caps);
    expect(more).toEqual([]);
    expect(entry).toEqual({
      changeId: `audit.${auditId}`,
      at: report.finishedAt,
      actorId: "admin",
      action: "audit.completed",
      auditId,
      detail: `audit ${auditId} done (requested): 6 resource(s), 10 grant(s), ${report.stats.findings} finding(s): ${n("high")} high, ${n("medium")} medium, ${n("low")} low`,
    });
    expect(n("high") + n("medium") + n("low")).toBe(report.stats.findings);
    expect(events(webhooks)).toEqual([
      expect.objectContaining({ id: `audit.${auditId}`, subject: `audits/${auditId}`, time: report.finishedAt }),
    ]);
    // The runner, a second run of the same audit: the done run writes nothing more.
    await runAudit(caps, "e1", auditId);
    expect(await continuePendingAudits(caps)).toBe(0);
    expect(await completed(caps)).toHaveLength(1);
    expect(events(webhooks)).toHaveLength(1);
    expect(await pendingIds(caps)).toEqual([]);
  });

  it("is written by the runner when the relay died before or after writing it, still as one row and one event id", async () => {
    // Died after writing the entry and sending its event, before removing the outbox row.
    const store = new FaultyStore();
    const { caps, webhooks } = await seeded(store);
    store.auditOutboxDeleteDown = true;
    const { auditId } = await requestAudit(caps, as("admin"), "e1");
    expect(await completed(caps)).toHaveLength(1);
    expect(await pendingIds(caps)).toEqual([auditId]);
    store.auditOutboxDeleteDown = false;
    await continuePendingAudits(caps);
    expect(await completed(caps)).toEqual([expect.objectContaining({ changeId: `audit.${auditId}` })]);
    // The relay ran twice, so the event went twice, under one id: the delivery rows drop the repeat.
    expect(events(webhooks).map((e) => e.id)).toEqual([`audit.${auditId}`, `audit.${auditId}`]);
    expect(await pendingIds(caps)).toEqual([]);
    expect(await caps.repo.outbox.items("audits", `e1|${auditId}`)).toEqual([]);

    // Died before writing it: the audit is done, and its entry follows on the runner's next pass.
    const second = await seeded(new FaultyStore());
    const down = second.store as FaultyStore;
    down.changesDown = true;
    const next = await requestAudit(second.caps, as("admin"), "e1");
    expect(next.status).toBe("done");
    expect(second.logs.some((l) => l.includes("left for the sweeper"))).toBe(true);
    down.changesDown = false;
    expect(await completed(second.caps)).toEqual([]);
    await continuePendingAudits(second.caps);
    expect(await completed(second.caps)).toEqual([
      expect.objectContaining({ changeId: `audit.${next.auditId}`, actorId: "admin" }),
    ]);
    // The first relay's event left beside the failed write (the relay sends them together): one id still.
    expect(new Set(events(second.webhooks).map((e) => e.id))).toEqual(new Set([`audit.${next.auditId}`]));
    expect(await pendingIds(second.caps)).toEqual([]);
  });

  it("is never left out when the completion itself fails: the run stays unfinished until a runner completes it", async () => {
    const store = new FaultyStore();
    const { caps } = await seeded(store);
    store.auditCompletionDown = true;
    const { auditId } = await requestAudit(caps, as("admin"), "e1");
    const stuck = (await caps.audits.getRun("e1", auditId))!.run;
    expect(stuck.status).toBe("running");
    expect(stuck.attempts).toBe(0);
    expect(await completed(caps)).toEqual([]);
    store.auditCompletionDown = false;
    // The failed holder's lease runs out; the next runner finishes the audit, with its entry.
    const later = { ...caps, clock: () => new Date(Date.now() + 10 * 60_000) };
    expect(await continuePendingAudits(later)).toBe(1);
    expect((await getAudit(caps, app, "e1", auditId)).status).toBe("done");
    expect(await completed(caps)).toEqual([expect.objectContaining({ changeId: `audit.${auditId}` })]);
  });

  it("names the system as the actor of a scheduled audit", async () => {
    const { caps } = await seeded();
    await auditEveryEnvironment(caps);
    await auditEveryEnvironment(caps);
    const id = scheduledAuditId(new Date());
    expect(await completed(caps)).toEqual([
      expect.objectContaining({
        changeId: `audit.${id}`,
        actorId: "system",
        auditId: id,
        detail: expect.stringMatching(new RegExp(`^audit ${id} done \\(scheduled\\): 6 resource\\(s\\)`)),
      }),
    ]);
  });
});
