/**
 * An access review's lifecycle end to end (docs/reviews.md, "Lifecycle"): through HTTP on the local
 * host with real Azurite and the mail sink. A review by owners with a fallback reviewer; the
 * reviewers' emails with their links; decisions by API; the reminder halfway once across two timer
 * runs and across a runner that dies between queuing the reminders and recording them; the default decision at the end; auto-apply revoking denied grants (the grantee loses
 * access), "already gone" for a grant revoked meanwhile; the admins' summary; the `review-deny`
 * change log entries and the `sharing.review.completed` event.
 *
 * Time: the host has no clock to move, so the test moves the instance's deadlines instead: it
 * rewrites the run row's `remindAt`, then `endsAt`, to now (under the row's ETag, on the stack's own
 * storage: test/support/reviewPages.ts), and runs the `reviewRunner` timer through the host's admin API.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import type { WriteOp } from "../../shared/ports/rows.js";
import type { Capabilities } from "../../shared/usecases/capabilities.js";
import { advanceReview } from "../../shared/usecases/reviews/runner.js";
import { mailTo, reviewLinkIn, waitForMail, waitForSubject } from "../support/mail.js";
import { endReviewNow, moveRunTimes } from "../support/reviewPages.js";
import { eventually } from "../support/poll.js";
import { startStack, type Stack } from "../support/stack.js";
import { stackCaps } from "../support/stackCaps.js";
import { startReceiver, type WebhookReceiver } from "../support/webhookReceiver.js";
import { expectProblem, expectStatus, newWorld } from "../support/world.js";

let stack: Stack;
let receiver: WebhookReceiver;
let caps: Capabilities;
beforeAll(async () => {
  stack = await startStack();
  receiver = await startReceiver();
  caps = stackCaps(stack);
}, 120_000);
afterAll(async () => {
  await receiver?.close();
  await stack?.stop();
});

interface InstanceView {
  status: string;
  phase: string;
  counts: Record<string, number>;
  applyCounts: Record<string, number>;
  defaulted?: number;
}
interface ItemView {
  itemId: string;
  resourceId: string;
  principal: { type: string; id: string };
  role: string;
  decision?: string;
  decidedBy?: string;
  defaulted?: boolean;
  outcome?: string;
}
interface LogItem {
  action: string;
  actorId: string;
  principal?: { type: string; id: string };
  resourceId?: string;
  reviewId?: string;
  instanceId?: string;
}

/** Azurite as the host uses it, failing like a dead process from the write that records the reminders on. */
class DiesRecordingReminders extends AzureRowStore {
  override async transact(table: string, pk: string, ops: readonly WriteOp[]) {
    if (
      table.endsWith("Reviews") &&
      ops.some((o) => o.rk === "run" && "fields" in o && String(o.fields.json).includes('"remindedAt"'))
    )
      throw new Error("injected crash");
    return super.transact(table, pk, ops);
  }
}

/** A review by the admins of one grant (bob's on the maker's process), its instance started and the admins emailed. */
async function startAdminReview(reviewId: string, displayName: string) {
  const w = await newWorld(stack);
  await w.user("maker");
  await w.user("admin", { roles: ["SystemAdministrator"] });
  await w.user("bob", { roles: ["BasicUser"] });
  const p1 = await w.resource("maker", { kind: "processMining", analyticsReady: true });
  expect((await w.share("maker", p1, "viewer", [{ type: "user", id: w.id("bob") }])).status).toBe(201);
  await expectStatus(stack, 201, "PUT", `/api/environments/${w.envId}/reviews/${reviewId}`, {
    token: w.adminToken,
    body: { displayName, scope: { roles: ["viewer"] }, reviewers: "admins", durationDays: 1 },
  });
  const base = `/api/environments/${w.envId}/reviews/${reviewId}`;
  const { instanceId } = (await expectStatus(stack, 202, "POST", `${base}/instances`, { token: w.adminToken }))
    .json as { instanceId: string };
  await stack.runFunction("reviewRunner");
  await waitForMail(stack, w.email("admin"));
  return { w, p1, instanceId, inst: `${base}/instances/${instanceId}` };
}

describe("an access review's lifecycle", () => {
  it("emails reviewers, reminds once, defaults, applies denials and sends the summary", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    await w.user("admin", { roles: ["SystemAdministrator"] });
    await w.user("fb", { roles: ["BasicUser"] });
    await w.user("bob", { roles: ["BasicUser"] });
    await w.user("gina", { roles: ["BasicUser"] });
    const p1 = await w.resource("maker", { kind: "processMining", analyticsReady: true });
    const p2 = await w.resource("maker", { kind: "processMining", analyticsReady: true });
    const user = (name: string) => ({ type: "user", id: w.id(name) });
    expect((await w.share("maker", p1, "viewer", [user("bob"), user("gina")])).status).toBe(201);
    expect((await w.share("maker", p2, "viewer", [user("bob")])).status).toBe(201);
    await expectStatus(stack, 201, "PUT", `/api/environments/${w.envId}/webhooks/reviewhook`, {
      token: w.adminToken,
      body: { url: receiver.url, eventTypes: ["sharing.review.completed", "sharing.grant.revoked"] },
    });

    // Owners review viewers; the owner grants have no other owner to review them: the fallback does.
    const reviewId = "quarterly";
    await expectStatus(stack, 201, "PUT", `/api/environments/${w.envId}/reviews/${reviewId}`, {
      token: w.adminToken,
      body: {
        displayName: "Quarterly access review",
        scope: { kinds: ["processMining"], roles: ["viewer", "owner"] },
        reviewers: "owners",
        fallbackReviewerIds: [w.id("fb")],
        durationDays: 2,
        defaultDecision: "deny",
        autoApply: true,
      },
    });
    const base = `/api/environments/${w.envId}/reviews/${reviewId}`;
    const started = await expectStatus(stack, 202, "POST", `${base}/instances`, { token: w.adminToken });
    const instanceId = (started.json as { instanceId: string }).instanceId;
    const inst = `${base}/instances/${instanceId}`;
    const instance = async () =>
      (await expectStatus(stack, 200, "GET", inst, { token: w.adminToken })).json as InstanceView;

    // Not completed: apply is refused.
    expectProblem(await stack.api("POST", `${inst}/apply`, { token: w.adminToken }), 409);

    await stack.runFunction("reviewRunner");
    expect(await instance()).toMatchObject({ status: "inProgress", phase: "open", counts: { items: 5, undecided: 5 } });
    const [toMaker] = await waitForMail(stack, w.email("maker"));
    const [toFallback] = await waitForMail(stack, w.email("fb"));
    expect(toMaker!.subject).toContain('"Quarterly access review"');
    expect(toMaker!.plainText).toContain("You review 3 grants");
    expect(reviewLinkIn(stack, toMaker!)).toContain("/api/review-pages/");
    expect(toFallback!.plainText).toContain("You review 2 grants");
    expect(reviewLinkIn(stack, toFallback!)).toContain("/api/review-pages/");

    // Decisions by API: the owner denies bob on p1 and leaves the others; the fallback approves both owner grants.
    const items = (
      (await expectStatus(stack, 200, "GET", `${inst}/items?top=50`, { token: w.adminToken })).json as {
        items: ItemView[];
      }
    ).items;
    const itemOf = (resourceId: string, who: string) =>
      items.find((i) => i.resourceId === resourceId && i.principal.id === w.id(who))!.itemId;
    let r = await w.as("maker", "POST", `reviews/${reviewId}/instances/${instanceId}/decisions`, {
      decisions: [{ itemId: itemOf(p1, "bob"), decision: "deny", justification: "left the project" }],
    });
    expect(r.status, r.text).toBe(200);
    r = await w.as("fb", "POST", `reviews/${reviewId}/instances/${instanceId}/decisions`, {
      decisions: [
        { itemId: itemOf(p1, "maker"), decision: "approve" },
        { itemId: itemOf(p2, "maker"), decision: "approve" },
      ],
    });
    expect(r.status, r.text).toBe(200);
    // Bob's access to p2 is revoked by hand meanwhile: applying it finds it gone.
    const revoked = await w.as("maker", "DELETE", `resources/${p2}/shares/user/${w.id("bob")}/viewer`);
    expect(revoked.status, revoked.text).toBe(200);

    // Halfway: two timer runs, one reminder to the owner (who has undecided items), none to the fallback.
    await moveRunTimes(stack, w.envId, reviewId, instanceId, { remindAt: new Date().toISOString() });
    await stack.runFunction("reviewRunner");
    await stack.runFunction("reviewRunner");
    const reminder = await waitForSubject(stack, w.email("maker"), /Reminder: 2 grants still to review/);
    expect(reviewLinkIn(stack, reminder)).toContain("/api/review-pages/");
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(mailTo(stack, w.email("maker"))).toHaveLength(2);
    expect(mailTo(stack, w.email("fb"))).toHaveLength(1);

    // The end: the default decision, auto-apply, the summary.
    const done = await endReviewNow(stack, w, reviewId, instanceId);
    expect(done).toMatchObject({
      status: "applied",
      counts: { items: 5, approve: 2, deny: 3, dontKnow: 0, undecided: 0 },
      applyCounts: { applied: 2, alreadyGone: 1, failed: 0 },
      defaulted: 2,
    });
    const after = (
      (await expectStatus(stack, 200, "GET", `${inst}/items?top=50`, { token: w.adminToken })).json as {
        items: ItemView[];
      }
    ).items;
    const outcome = (resourceId: string, who: string) =>
      after.find((i) => i.resourceId === resourceId && i.principal.id === w.id(who));
    expect(outcome(p1, "bob")).toMatchObject({ decision: "deny", decidedBy: w.id("maker"), outcome: "applied" });
    expect(outcome(p1, "gina")).toMatchObject({ decision: "deny", defaulted: true, outcome: "applied" });
    expect(outcome(p2, "bob")).toMatchObject({ decision: "deny", defaulted: true, outcome: "alreadyGone" });
    expect(outcome(p1, "maker")).toMatchObject({ decision: "approve" });
    expect(outcome(p1, "maker")?.outcome).toBeUndefined();

    // The grantees lost their access.
    const canView = async (who: string) =>
      (
        (
          await expectStatus(stack, 200, "POST", `/api/environments/${w.envId}/check`, {
            token: w.adminToken,
            body: { checks: [{ principalId: w.id(who), resourceId: p1, action: "processMining.viewDetails" }] },
          })
        ).json as { results: { allowed: boolean }[] }
      ).results[0]!.allowed;
    expect(await canView("bob")).toBe(false);
    expect(await canView("gina")).toBe(false);
    expect(await canView("maker")).toBe(true);

    // The change log: one review-deny per revoked grant, by the reviewer or the system; one review.completed.
    const log = (
      (await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/changes`, { token: w.adminToken })).json as {
        items: LogItem[];
      }
    ).items;
    const denies = log.filter((e) => e.action === "review-deny");
    expect(denies.map((e) => [e.principal?.id, e.actorId, e.reviewId, e.instanceId]).sort()).toEqual(
      [
        [w.id("bob"), w.id("maker"), reviewId, instanceId],
        [w.id("gina"), "system", reviewId, instanceId],
      ].sort(),
    );
    expect(log.filter((e) => e.action === "review.completed")).toEqual([
      expect.objectContaining({ reviewId, instanceId }),
    ]);

    // The event, about the instance; and the two revokes as grant.revoked.
    const events = await eventually(
      "the review.completed event",
      () => receiver.events().filter((e) => e.source === `/environments/${w.envId}`),
      { until: (es) => es.some((e) => e.type === "sharing.review.completed") },
    );
    const completed = events.filter((e) => e.type === "sharing.review.completed");
    expect(new Set(completed.map((e) => e.id)).size).toBe(1);
    expect(completed[0]).toMatchObject({
      subject: `reviews/${reviewId}/instances/${instanceId}`,
      data: { reviewId, instanceId },
    });
    const revokedByReview = await eventually(
      "the review's grant.revoked events",
      () =>
        receiver
          .events()
          .filter(
            (e) =>
              e.source === `/environments/${w.envId}` &&
              e.type === "sharing.grant.revoked" &&
              e.data.instanceId === instanceId,
          ),
      { until: (es) => new Set(es.map((e) => e.id)).size >= 2 },
    );
    expect([...new Set(revokedByReview.map((e) => e.data.principal?.id))].sort()).toEqual(
      [w.id("bob"), w.id("gina")].sort(),
    );

    // The admins' summary, once, with the outcomes.
    const summary = await waitForSubject(stack, w.email("admin"), /Access review "Quarterly access review" finished/);
    expect(summary.plainText).toContain("2 revoked, 1 already gone, 0 failed.");
    expect(summary.plainText).toContain("2 of them nobody decided");
    expect(summary.plainText).toContain(`${stack.baseUrl}${inst}`);

    // The timer again: nothing more is sent or logged; apply is refused now.
    await stack.runFunction("reviewRunner");
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(mailTo(stack, w.email("admin")).filter((m) => /finished/.test(m.subject))).toHaveLength(1);
    expectProblem(await stack.api("POST", `${inst}/apply`, { token: w.adminToken }), 409);
  }, 180_000);

  it("applies on request, for admins only, when the review doesn't apply by itself", async () => {
    const reviewId = "manual";
    const { w, p1, instanceId, inst } = await startAdminReview(reviewId, "Manual");
    const items = (
      (await expectStatus(stack, 200, "GET", `${inst}/items`, { token: w.adminToken })).json as { items: ItemView[] }
    ).items;
    expect(items).toHaveLength(1);
    const decided = await w.as("admin", "POST", `reviews/${reviewId}/instances/${instanceId}/decisions`, {
      decisions: [{ itemId: items[0]!.itemId, decision: "deny" }],
    });
    expect(decided.status, decided.text).toBe(200);
    expect((await endReviewNow(stack, w, reviewId, instanceId)).status).toBe("completed");
    await waitForSubject(stack, w.email("admin"), /finished/);
    expectProblem(await w.as("bob", "POST", `reviews/${reviewId}/instances/${instanceId}/apply`), 403);
    const applied = await expectStatus(stack, 202, "POST", `${inst}/apply`, { token: await w.token("admin") });
    expect(applied.json).toMatchObject({ instanceId });
    const view = await eventually(
      "the instance applied",
      async () => (await expectStatus(stack, 200, "GET", inst, { token: w.adminToken })).json as InstanceView,
      { until: (i) => i.status === "applied" && i.phase === "done" },
    );
    expect(view.applyCounts).toEqual({ applied: 1, alreadyGone: 0, failed: 0 });
    const shares = (await w.as("maker", "GET", `resources/${p1}/shares`)).json as {
      grants: { principalId: string }[];
    };
    expect(shares.grants.map((g) => g.principalId)).toEqual([w.id("maker")]);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(mailTo(stack, w.email("admin")).filter((m) => /finished/.test(m.subject))).toHaveLength(1);
  }, 180_000);

  it("reminds once across a crash between queuing the reminders and recording them", async () => {
    const reviewId = "crashy";
    const { w, instanceId } = await startAdminReview(reviewId, "Crashy");

    // Halfway, a runner (another process on the same storage and queues) queues the reminders and
    // dies as it records them: its lease stays on the row.
    await moveRunTimes(stack, w.envId, reviewId, instanceId, { remindAt: new Date().toISOString() });
    const dying = stackCaps(stack, {
      rows: new DiesRecordingReminders({ connectionString: stack.storageConnectionString }),
    });
    await expect(advanceReview(dying, w.envId, reviewId, instanceId, { budgetMs: 1_000 })).rejects.toThrow(
      "injected crash",
    );
    const reminder = await waitForSubject(stack, w.email("admin"), /Reminder/);
    expect(reminder.subject).toContain("1 grant still to review");
    const held = (await caps.reviews.getRun(w.envId, reviewId, instanceId))!.run;
    expect(held).toMatchObject({ phase: "remind" });
    expect(held.remindedAt).toBeUndefined();

    // Its lease runs out (time moved, as for the deadlines); the timer, twice, does the reminder again.
    await moveRunTimes(stack, w.envId, reviewId, instanceId, { leaseUntil: new Date(Date.now() - 1000).toISOString() });
    await stack.runFunction("reviewRunner");
    await stack.runFunction("reviewRunner");
    const after = (await caps.reviews.getRun(w.envId, reviewId, instanceId))!.run;
    expect(after.phase).toBe("open");
    expect(after.remindedAt).toBeDefined();
    // Queued twice, sent once: the repeat carried the same operation id.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(mailTo(stack, w.email("admin")).filter((m) => /Reminder/.test(m.subject))).toHaveLength(1);
    expect(mailTo(stack, w.email("admin"))).toHaveLength(2);
  }, 180_000);
});
