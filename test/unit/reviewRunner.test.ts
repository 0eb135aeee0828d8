/**
 * The review runner (`shared/usecases/reviews/runner.ts`) on the in-memory store with a clock the
 * test moves: the reviewers' emails, the reminder once (across two runs, and across a crash between
 * queuing and marking), the default decision at the end, applying denials (applied, already gone,
 * failed), the finish (log entry, summary) once, and a later apply without a second summary.
 */
import { describe, expect, it } from "vitest";
import type { EmailJob } from "../../shared/model/emailJobs.js";
import type { ReviewDefinition, ReviewInstance, ReviewItem } from "../../shared/model/reviews.js";
import type { EmailSender, OutgoingEmail } from "../../shared/ports/email.js";
import { verifyReviewToken } from "../../shared/reviews/token.js";
import type { ReviewRows } from "../../shared/store/reviewRows.js";
import { check } from "../../shared/usecases/access.js";
import type { Caller, Capabilities } from "../../shared/usecases/capabilities.js";
import type { MailerDeps } from "../../shared/usecases/email/handler.js";
import { handleEmailMessage } from "../../shared/usecases/email/mailer.js";
import { putResource } from "../../shared/usecases/resources.js";
import { decideItems } from "../../shared/usecases/reviews/decisions.js";
import { putReviewDefinition } from "../../shared/usecases/reviews/definitions.js";
import { advanceReview, requestApply } from "../../shared/usecases/reviews/runner.js";
import { nextPeriod } from "../../shared/usecases/reviews/definitions.js";
import { scheduleInstanceId } from "../../shared/usecases/reviews/start.js";
import { runReviewTimer } from "../../shared/usecases/reviews/timer.js";
import { revoke, share } from "../../shared/usecases/sharing.js";
import { memoryCaps, seedDirectory } from "../support/memoryCaps.js";

const day = 86_400_000;
const t0 = Date.parse("2027-03-01T10:00:00.000Z");
const app: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
const as = (id: string): Caller => ({ principalId: id, appRoles: [] });
const signingKey = "s".repeat(40);

/**
 * Environment e1: maker owns process p1 (shared with bob and gina as viewers) and p2 (bob), and flow
 * f1; fb is the fallback reviewer, admin the environment's admin. An instance in phase `notify` with
 * four items: bob and gina on p1 (maker reviews), bob on p2 (the fallback), maker's own owner grant
 * of the flow (the admins).
 */
async function world(over: Partial<ReviewDefinition> = {}) {
  let now = t0;
  const m = memoryCaps(undefined, () => new Date(now));
  const c = m.caps;
  await seedDirectory(c, "e1", [
    ["maker", true, ["EnvironmentMaker"]],
    ["admin", true, ["SystemAdministrator"]],
    ["fb", true, ["BasicUser"]],
    ["bob", true, ["BasicUser"]],
    ["gina", true, ["BasicUser"]],
  ]);
  for (const [id, kind] of [
    ["p1", "processMining"],
    ["p2", "processMining"],
    ["f1", "cloudFlow"],
  ] as const)
    await putResource(c, as("maker"), "e1", id, { kind, displayName: id.toUpperCase(), creatorId: "maker" }, undefined);
  const viewers = { role: "viewer" as const, sendInvitation: false };
  await share(c, as("maker"), "e1", "p1", {
    ...viewers,
    principals: [
      { type: "user", id: "bob" },
      { type: "user", id: "gina" },
    ],
  });
  await share(c, as("maker"), "e1", "p2", { ...viewers, principals: [{ type: "user", id: "bob" }] });
  const itemOf = async (
    itemId: string,
    resourceId: string,
    who: string,
    role: ReviewItem["role"],
    reviewers: ReviewItem["reviewers"],
  ): Promise<ReviewItem> => {
    const grant = (await c.repo.grantRows("e1", resourceId)).find((g) => g.principalId === who && g.role === role)!;
    return {
      itemId,
      resourceId,
      kind: resourceId === "f1" ? "cloudFlow" : "processMining",
      resourceName: resourceId.toUpperCase(),
      principal: { type: "user", id: who },
      role,
      since: grant.grantedAt,
      grantedBy: grant.grantedBy,
      via: "direct",
      reviewers,
    };
  };
  const items = [
    await itemOf("i1", "p1", "bob", "viewer", ["u.maker"]),
    await itemOf("i2", "p1", "gina", "viewer", ["u.maker"]),
    await itemOf("i3", "p2", "bob", "viewer", ["fallback"]),
    await itemOf("i4", "f1", "maker", "owner", ["admins"]),
  ];
  const definition: ReviewDefinition = {
    reviewId: "rv",
    envId: "e1",
    displayName: "Quarterly review",
    scope: {},
    reviewers: "owners",
    fallbackReviewerIds: ["fb"],
    durationDays: 10,
    defaultDecision: "deny",
    autoApply: true,
    createdAt: new Date(t0).toISOString(),
    updatedAt: new Date(t0).toISOString(),
    updatedBy: "admin",
    ...over,
  };
  const run: ReviewInstance = {
    envId: "e1",
    reviewId: "rv",
    instanceId: "in1",
    status: "inProgress",
    phase: "notify",
    trigger: "request",
    startedBy: "admin",
    createdAt: new Date(t0).toISOString(),
    endsAt: new Date(t0 + 10 * day).toISOString(),
    remindAt: new Date(t0 + 5 * day).toISOString(),
    snapshotAt: new Date(t0).toISOString(),
    definition,
    counts: { items: 4, approve: 0, deny: 0, dontKnow: 0, undecided: 4 },
    applyCounts: { applied: 0, alreadyGone: 0, failed: 0 },
  };
  await c.reviews.createInstance(run);
  await c.reviews.putItems("e1", "rv", "in1", items, ["u.maker", "fallback", "admins"]);

  const delivered: OutgoingEmail[] = [];
  const sender: EmailSender = {
    async send(email) {
      delivered.push(email);
      return { messageId: email.operationId };
    },
  };
  const mailer: MailerDeps = {
    ...c,
    sender,
    invitations: { signingKey, publicBaseUrl: "https://api.test/", appBaseUrl: "https://app.test/" },
  };
  let message = 0;
  /** Delivers every queued review email job, each as its own queue message (as duplicates would be). */
  const deliver = async () => {
    const jobs = m.sent.splice(0).filter((j) => j.kind === "reviewRequest" || j.kind === "reviewSummary");
    for (const j of jobs) await handleEmailMessage(mailer, j, { messageId: `m${++message}`, dequeueCount: 1 });
    return jobs;
  };
  const advance = (deps: Capabilities = c) => advanceReview(deps, "e1", "rv", "in1", { budgetMs: 60_000 });
  const getRun = async () => (await c.reviews.getRun("e1", "rv", "in1"))!.run;
  const getItem = async (id: string) => (await c.reviews.getItem("e1", "rv", "in1", id))!.item;
  const log = async () => (await c.repo.environmentChanges("e1", undefined, 100)).items;
  const canView = async (who: string, resourceId: string) =>
    (await check(c, app, "e1", [{ principalId: who, resourceId, action: "processMining.viewDetails" }]))[0]!.allowed;
  const openRows = async () => (await c.reviews.openPage(undefined)).rows;
  return {
    m,
    c,
    delivered,
    deliver,
    advance,
    getRun,
    getItem,
    log,
    canView,
    openRows,
    at: (ms: number) => (now = ms),
  };
}

const requestJobs = (jobs: EmailJob[]) =>
  jobs.flatMap((j) => (j.kind === "reviewRequest" ? [`${j.reviewerKey}>${j.userId}:${j.step}`] : [])).sort();

describe("the review runner", () => {
  it("emails each reviewer a signed link once, then waits for the reminder", async () => {
    const w = await world();
    const after = await w.advance();
    expect(after).toMatchObject({ phase: "open", status: "inProgress", notifiedAt: new Date(t0).toISOString() });
    expect(requestJobs(w.m.sent)).toEqual(["admins>admin:start", "fallback>fb:start", "u.maker>maker:start"]);
    await w.deliver();
    expect(w.delivered).toHaveLength(3);
    const toMaker = w.delivered.find((e) => e.to[0]!.address === "maker@x.test")!;
    expect(toMaker.subject).toContain('"Quarterly review"');
    expect(toMaker.plainText).toContain("You review 2 grants");
    const link = /https:\/\/api\.test\/api\/review-pages\/(\S+)/.exec(toMaker.plainText)![1]!;
    const verified = await verifyReviewToken(signingKey, decodeURIComponent(link), new Date(t0));
    expect(verified).toMatchObject({
      ok: true,
      claims: { env: "e1", review: "rv", instance: "in1", reviewer: "u.maker", userId: "maker" },
    });
    expect(verified.ok && verified.claims.expiresAt.toISOString()).toBe(new Date(t0 + 10 * day).toISOString());

    // Before the reminder nothing more is sent, however often the timer runs.
    w.at(t0 + 5 * day - 1);
    const etag = (await w.c.reviews.getRun("e1", "rv", "in1"))!.etag;
    await w.advance();
    await w.advance();
    expect(w.m.sent).toEqual([]);
    // Waiting costs a read, never a write.
    expect((await w.c.reviews.getRun("e1", "rv", "in1"))!.etag).toBe(etag);
    expect((await w.getRun()).phase).toBe("open");
  });

  it("reminds only reviewers with undecided items, once across two runs", async () => {
    const w = await world();
    await w.advance();
    await w.deliver();
    await decideItems(
      w.c,
      { userId: "maker" },
      "e1",
      "rv",
      "in1",
      [
        { itemId: "i1", decision: "approve" },
        { itemId: "i2", decision: "approve" },
      ],
      "api",
    );
    w.at(t0 + 5 * day);
    await w.advance();
    await w.advance();
    expect(requestJobs(w.m.sent)).toEqual(["admins>admin:reminder", "fallback>fb:reminder"]);
    expect((await w.getRun()).remindedAt).toBe(new Date(t0 + 5 * day).toISOString());
    await w.deliver();
    expect(w.delivered.slice(3).map((e) => e.to[0]!.address)).toEqual(
      expect.arrayContaining(["admin@x.test", "fb@x.test"]),
    );
    expect(w.delivered.slice(3)).toHaveLength(2);
    expect(w.delivered.slice(3).every((e) => e.subject.includes("Reminder: 1 grant still to review"))).toBe(true);
  });

  it("reminds once across a crash between queuing the reminders and marking them sent", async () => {
    const w = await world();
    await w.advance();
    await w.deliver();
    w.at(t0 + 5 * day);
    // The process dies as the run row records the reminders: no write of it lands from then on (the
    // failed run's release carries the mark too).
    const dead = Object.create(w.c.reviews) as ReviewRows;
    dead.putRun = async (run, etag, outbox) => {
      if (run.remindedAt) throw new Error("injected crash");
      return w.c.reviews.putRun(run, etag, outbox);
    };
    const crashing = { ...w.c, reviews: dead };
    await expect(w.advance(crashing)).rejects.toThrow("injected crash");
    expect(requestJobs(w.m.sent)).toEqual(["admins>admin:reminder", "fallback>fb:reminder", "u.maker>maker:reminder"]);
    expect((await w.getRun()).phase).toBe("remind");
    // A live lease holds it until it runs out; then the next run queues the reminders again.
    await w.advance();
    expect(requestJobs(w.m.sent)).toHaveLength(3);
    w.at(t0 + 5 * day + 5 * 60_000);
    await w.advance();
    expect(requestJobs(w.m.sent)).toHaveLength(6);
    expect((await w.getRun()).remindedAt).toBe(new Date(t0 + 5 * day + 5 * 60_000).toISOString());
    await w.deliver();
    // Three start emails and three reminders: the repeated jobs carried the same operation ids.
    expect(w.delivered).toHaveLength(6);
    expect(new Set(w.delivered.map((e) => e.operationId)).size).toBe(6);
  });

  it("takes the default decision at the end and applies denials: applied, already gone, failed; finishes once", async () => {
    const w = await world();
    await w.advance();
    await decideItems(w.c, { userId: "maker" }, "e1", "rv", "in1", [{ itemId: "i1", decision: "deny" }], "api");
    await decideItems(w.c, { userId: "fb" }, "e1", "rv", "in1", [{ itemId: "i3", decision: "deny" }], "api");
    await decideItems(w.c, { userId: "admin" }, "e1", "rv", "in1", [{ itemId: "i4", decision: "deny" }], "api");
    // Bob's access to p2 is revoked by hand meanwhile.
    await revoke(w.c, as("maker"), "e1", "p2", { type: "user", id: "bob" }, "viewer");
    expect(await w.canView("bob", "p1")).toBe(true);
    expect(await w.canView("gina", "p1")).toBe(true);
    w.m.sent.splice(0);

    w.at(t0 + 10 * day);
    const done = await w.advance();
    expect(done).toMatchObject({
      phase: "done",
      status: "applied",
      defaulted: 1,
      counts: { items: 4, approve: 0, deny: 4, dontKnow: 0, undecided: 0 },
      applyCounts: { applied: 2, alreadyGone: 1, failed: 1 },
    });
    expect(await w.getItem("i2")).toMatchObject({ decision: "deny", defaulted: true, outcome: "applied" });
    expect(await w.getItem("i1")).toMatchObject({ decidedBy: "maker", outcome: "applied" });
    expect(await w.getItem("i3")).toMatchObject({ outcome: "alreadyGone" });
    expect(await w.getItem("i4")).toMatchObject({
      outcome: "failed",
      outcomeDetail: "the creator of a flow can never be removed as owner",
    });
    expect(await w.canView("bob", "p1")).toBe(false);
    expect(await w.canView("gina", "p1")).toBe(false);

    const denies = (await w.log()).filter((e) => e.action === "review-deny");
    expect(denies.map((e) => [e.principal?.id, e.actorId, e.reviewId, e.instanceId]).sort()).toEqual([
      ["bob", "maker", "rv", "in1"],
      ["gina", "system", "rv", "in1"],
    ]);
    const completed = (await w.log()).filter((e) => e.action === "review.completed");
    expect(completed).toHaveLength(1);
    expect(completed[0]).toMatchObject({ reviewId: "rv", instanceId: "in1", changeId: "review.in1" });
    expect(w.m.sent.filter((j) => j.kind === "reviewSummary")).toEqual([
      { kind: "reviewSummary", envId: "e1", reviewId: "rv", instanceId: "in1" },
    ]);
    expect(await w.openRows()).toEqual([]);

    await w.deliver();
    const summary = w.delivered.find((e) => e.to.some((t) => t.address === "admin@x.test"))!;
    expect(summary.plainText).toContain("2 revoked, 1 already gone, 1 failed.");
    expect(summary.plainText).toContain("1 of them nobody decided");

    // Run again: nothing more is logged or sent.
    const entries = (await w.log()).length;
    await w.advance();
    expect((await w.log()).length).toBe(entries);
    expect(w.m.sent).toEqual([]);
  });

  it("without autoApply completes with the summary, then applies on request without a second one", async () => {
    const w = await world({ autoApply: false, defaultDecision: "none" });
    await w.advance();
    await decideItems(w.c, { userId: "maker" }, "e1", "rv", "in1", [{ itemId: "i1", decision: "deny" }], "api");
    await expect(requestApply(w.c, as("admin"), "e1", "rv", "in1")).rejects.toMatchObject({ code: "conflict" });
    w.m.sent.splice(0);
    w.at(t0 + 10 * day);
    expect(await w.advance()).toMatchObject({ phase: "done", status: "completed", defaulted: 0 });
    expect(await w.canView("bob", "p1")).toBe(true);
    expect(w.m.sent.filter((j) => j.kind === "reviewSummary")).toHaveLength(1);
    expect((await w.getItem("i2")).decision).toBeUndefined();

    await expect(requestApply(w.c, as("bob"), "e1", "rv", "in1")).rejects.toMatchObject({ code: "forbidden" });
    const applied = await requestApply(w.c, as("admin"), "e1", "rv", "in1");
    expect(applied).toMatchObject({ phase: "done", status: "applied", applyCounts: { applied: 1 } });
    expect(await w.canView("bob", "p1")).toBe(false);
    expect(w.m.sent.filter((j) => j.kind === "reviewSummary")).toHaveLength(1);
    expect((await w.log()).filter((e) => e.action === "review.completed")).toHaveLength(1);
    expect(await w.openRows()).toEqual([]);
    await expect(requestApply(w.c, as("admin"), "e1", "rv", "in1")).rejects.toMatchObject({ code: "conflict" });
  });
});

describe("recurring starts", () => {
  it("adds a week, a month or a quarter, clamping to the month's last day", () => {
    expect(nextPeriod("2027-01-31T09:00:00.000Z", "month")).toBe("2027-02-28T09:00:00.000Z");
    expect(nextPeriod("2028-01-31T09:00:00.000Z", "month")).toBe("2028-02-29T09:00:00.000Z");
    expect(nextPeriod("2027-11-30T09:00:00.000Z", "quarter")).toBe("2028-02-29T09:00:00.000Z");
    expect(nextPeriod("2027-12-29T23:30:00.000Z", "week")).toBe("2028-01-05T23:30:00.000Z");
    expect(scheduleInstanceId("2027-03-08T10:05:00.000Z")).toBe("r202703081005");
  });

  it("starts one instance per due time however often the timer runs, and move to the next period", async () => {
    let now = t0;
    const m = memoryCaps(undefined, () => new Date(now));
    const c = m.caps;
    await seedDirectory(c, "e1", [
      ["maker", true, ["EnvironmentMaker"]],
      ["admin", true, ["SystemAdministrator"]],
      ["bob", true, ["BasicUser"]],
    ]);
    await putResource(
      c,
      as("maker"),
      "e1",
      "p1",
      { kind: "processMining", displayName: "P1", creatorId: "maker" },
      undefined,
    );
    await share(c, as("maker"), "e1", "p1", {
      role: "viewer",
      sendInvitation: false,
      principals: [{ type: "user", id: "bob" }],
    });
    await putReviewDefinition(c, app, "e1", "weekly", {
      displayName: "Weekly",
      scope: { roles: ["viewer"] },
      reviewers: "admins",
      durationDays: 3,
      recurrence: { every: "week" },
    });
    const firstDue = new Date(t0 + 7 * day).toISOString();
    expect((await c.reviews.getDefinition("e1", "weekly"))!.definition.nextStartAt).toBe(firstDue);

    // Not due yet: nothing starts.
    expect((await runReviewTimer(c, { budgetMs: 30_000 })).started).toBe(0);
    now = t0 + 7 * day + 30_000;
    const first = await runReviewTimer(c, { budgetMs: 30_000 });
    const second = await runReviewTimer(c, { budgetMs: 30_000 });
    expect([first.started, second.started]).toEqual([1, 0]);
    const instanceId = scheduleInstanceId(firstDue);
    const run = (await c.reviews.getRun("e1", "weekly", instanceId))!.run;
    expect(run).toMatchObject({ trigger: "schedule", startedBy: "system", phase: "open", counts: { items: 1 } });
    expect((await c.reviews.instancesPage("e1", "weekly", undefined, 10)).instances).toHaveLength(1);
    const def = (await c.reviews.getDefinition("e1", "weekly"))!.definition;
    expect(def).toMatchObject({ nextStartAt: new Date(t0 + 14 * day).toISOString(), lastInstanceId: instanceId });
    const due = await c.reviews.dueRecurPage(new Date(t0 + 100 * day), undefined);
    expect(due.rows.map((r) => r.nextStartAt)).toEqual([new Date(t0 + 14 * day).toISOString()]);
    // The admins were emailed once for the one instance.
    expect(requestJobs(m.sent)).toEqual(["admins>admin:start"]);
  });
});

describe("the finish", () => {
  it("is relayed by the next run when its relay failed, once, and only then is the open row removed", async () => {
    const w = await world({ defaultDecision: "approve", autoApply: false });
    await w.advance();
    w.m.sent.splice(0);
    w.at(t0 + 10 * day);
    // The email queue is down as the finish is relayed: its outbox rows stay in the instance partition.
    const down = { ...w.c, emailQueue: { send: async () => Promise.reject(new Error("queue down")) } };
    expect(await w.advance(down)).toMatchObject({ phase: "done", status: "completed" });
    expect(await w.openRows()).toHaveLength(1);
    expect(w.m.sent).toEqual([]);

    await w.advance();
    expect(await w.openRows()).toEqual([]);
    expect(w.m.sent).toEqual([{ kind: "reviewSummary", envId: "e1", reviewId: "rv", instanceId: "in1" }]);
    expect((await w.log()).filter((e) => e.action === "review.completed")).toHaveLength(1);
    await w.advance();
    expect(w.m.sent).toHaveLength(1);
  });
});
