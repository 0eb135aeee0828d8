/**
 * Webhook delivery end to end (contract v2, "Events for integrations"): changes made through HTTP on
 * the local host with real Azurite, delivered to receivers on loopback. Each event is checked against
 * the change log entry it came from, its signature verified with the `standardwebhooks` package and
 * with an independent HMAC; retries, 410, the test route and redelivery through the routes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { webhookQueueName } from "../../shared/appContract.js";
import { eventTypeOfAction } from "../../shared/webhooks/events.js";
import { linkIn, waitForMail } from "../support/mail.js";
import { eventually } from "../support/poll.js";
import { queueLength } from "../support/queues.js";
import { startStack, type Stack } from "../support/stack.js";
import {
  firstTimes,
  startReceiver,
  verifyIndependently,
  verifyWithPackage,
  type ReceivedEvent,
  type ReceivedRequest,
  type WebhookReceiver,
} from "../support/webhookReceiver.js";
import { allPages, expectProblem, expectStatus, finishedAudit, newWorld, type World } from "../support/world.js";

let stack: Stack;
beforeAll(async () => {
  // The stack sets WEBHOOK_ALLOW_LOOPBACK_HTTP=true, so http://127.0.0.1 receivers are allowed.
  stack = await startStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

const receivers: WebhookReceiver[] = [];
async function receiver(...args: Parameters<typeof startReceiver>): Promise<WebhookReceiver> {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

interface Delivery {
  deliveryId: string;
  eventId: string;
  eventType: string;
  status: string;
  attempts: number;
  redeliveries?: number;
  lastStatus?: number;
  lastError?: string;
  nextAttemptAt?: string;
}
interface LogItem {
  action: string;
  actorId: string;
  at: string;
  resourceId?: string;
  principal?: { type: string; id: string };
  role?: string;
  detail: string;
}

/** The types the app raises, by the change log action each comes from. */
const typeOfAction: Record<string, string | undefined> = eventTypeOfAction;
// Distinct: two actions may raise one type (an owner change and a claim both change the owner).
const raisedTypes = [...new Set(Object.values(eventTypeOfAction))];

/**
 * Whether a change log entry raises an event: its action maps to a type, except an offboarding's
 * per-resource steps (they name a resource); the run's summary is the user.offboarded event.
 */
const raisesEvent = (e: LogItem) =>
  typeOfAction[e.action] !== undefined && !(e.action === "offboard" && e.resourceId !== undefined);

async function subscribe(w: World, id: string, url: string, eventTypes: string[]): Promise<string> {
  const r = await expectStatus(stack, 201, "PUT", `/api/environments/${w.envId}/webhooks/${id}`, {
    token: w.adminToken,
    body: { url, eventTypes },
  });
  return (r.json as { secret: string }).secret;
}

const hooks = (w: World, path: string) => `/api/environments/${w.envId}/webhooks/${path}`;

async function deliveries(w: World, subscriptionId: string): Promise<Delivery[]> {
  const r = await expectStatus(stack, 200, "GET", hooks(w, `${subscriptionId}/deliveries`), { token: w.adminToken });
  return (r.json as { items: Delivery[] }).items;
}

/** The whole change log of the world's environment, every page. */
const changeLog = (w: World) => allPages<LogItem>(stack, `/api/environments/${w.envId}/changes`, w.adminToken);

/** Waits until no webhook message is left, visible or not: nothing more is on its way. */
const queueDrained = () =>
  eventually("the webhook queue to drain", () => queueLength(stack, webhookQueueName), {
    until: (n) => n === 0,
    timeoutMs: 30_000,
    intervalMs: 200,
  });

/** A request as a receiver must get it: Standard Webhooks headers, a CloudEvents 1.0 JSON body, a signature that verifies both ways. */
function expectSignedEvent(r: ReceivedRequest, secret: string, envId: string): ReceivedEvent {
  expect(r.headers["content-type"]).toBe("application/json");
  const event = JSON.parse(r.body) as ReceivedEvent;
  expect(event).toMatchObject({
    specversion: "1.0",
    source: `/environments/${envId}`,
    datacontenttype: "application/json",
  });
  expect(r.headers["webhook-id"]).toBe(event.id);
  const ts = Number(r.headers["webhook-timestamp"]);
  expect(Math.abs(ts * 1000 - r.at.getTime())).toBeLessThan(60_000);
  expect(r.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
  expect(() => verifyWithPackage(r, secret)).not.toThrow();
  expect(verifyIndependently(r, secret)).toBe(true);
  // Another secret verifies neither way: the checks are not vacuous.
  const other = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
  expect(() => verifyWithPackage(r, other)).toThrow();
  expect(verifyIndependently(r, other)).toBe(false);
  return event;
}

/** What identifies an event's change: the log entry's fields the event carries. */
const keyOfEntry = (e: LogItem) =>
  JSON.stringify([typeOfAction[e.action], e.at, e.actorId, e.resourceId, e.principal?.id, e.detail]);
const keyOfEvent = (e: ReceivedEvent) =>
  JSON.stringify([e.type, e.time, e.data.actorId, e.data.resourceId, e.data.principal?.id, e.data.detail]);

describe("webhook delivery through HTTP to a loopback receiver", () => {
  it("delivers each event type the app raises once per change, signed; a subscription gets only the types it names", async () => {
    const w = await newWorld(stack);
    await w.user("admin", { roles: ["SystemAdministrator"] });
    await w.user("maker");
    await w.user("heir");
    await w.user("bob");
    await w.user("leaver");
    await w.user("invitee", { roles: ["BasicUser"] });

    const all = await receiver();
    const narrow = await receiver();
    const allSecret = await subscribe(w, "all", all.url, raisedTypes);
    const narrowSecret = await subscribe(w, "narrow", narrow.url, ["sharing.grant.revoked"]);

    // resource.created (x2), grant.created, grant.revoked, invitation.accepted.
    const p = await w.resource("maker", { kind: "processMining", analyticsReady: true });
    expect((await w.share("maker", p, "viewer", [{ type: "user", id: w.id("bob") }])).status).toBe(201);
    expect((await w.as("maker", "DELETE", `resources/${p}/shares/user/${w.id("bob")}/viewer`)).status).toBe(200);
    const invited = await w.share("maker", p, "viewer", [{ type: "user", id: w.id("invitee") }], {
      sendInvitation: true,
    });
    expect(invited.status, invited.text).toBe(201);
    const [mail] = await waitForMail(stack, w.email("invitee"));
    const accepted = await fetch(`${linkIn(stack, mail!)}/accept`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "",
      redirect: "manual",
    });
    expect(accepted.status).toBe(303);

    // owner.changed, copy.sent, resource.deleted on a solution-aware flow.
    const flow = await w.resource("maker", { kind: "cloudFlow", solutionAware: true, triggerKind: "instant" });
    const owner = await w.as("maker", "PUT", `resources/${flow}/owner`, { ownerId: w.id("heir") });
    expect(owner.status, owner.text).toBe(200);
    const copies = await w.as("heir", "POST", `resources/${flow}/copies`, {
      recipientIds: [w.id("bob")],
      displayName: "A copy",
    });
    expect(copies.status, copies.text).toBe(201);
    expect((await w.as("heir", "DELETE", `resources/${flow}`)).status).toBe(204);

    // user.offboarded: the leaver holds a grant, which offboarding revokes.
    expect((await w.share("maker", p, "viewer", [{ type: "user", id: w.id("leaver") }])).status).toBe(201);
    const off = await w.as("admin", "POST", "offboardings", { userId: w.id("leaver") });
    expect(off.status, off.text).toBe(200);
    // audit.completed: an audit run to its end.
    await finishedAudit(stack, w.envId, w.adminToken);

    // What should arrive is what the change log holds: one event per entry of a mapped action.
    const expected = async () => (await changeLog(w)).filter(raisesEvent);
    // Counted by type, so a timeout shows which type is missing.
    const countBy = (types: string[]) =>
      Object.fromEntries([...new Set(types)].sort().map((t) => [t, types.filter((x) => x === t).length]));
    const final = await eventually(
      "an event for every change log entry that raises one",
      async () => {
        const want = await expected();
        return {
          wanted: countBy(want.map((e) => typeOfAction[e.action]!)),
          got: countBy(all.events().map((e) => e.type)),
          want,
        };
      },
      {
        until: ({ want }) => want.length > 0 && all.requests.length >= want.length,
        timeoutMs: 60_000,
        intervalMs: 200,
      },
    );
    await queueDrained();
    const want = await expected();
    expect(want.length).toBe(final.want.length);
    // Every type the app raises today is among them, but the expiry timer's two: test/e2e/expiry.test.ts
    // receives those through the same receiver, with grants a few seconds (and a day) from their end;
    // and a finished access review's, which test/e2e/reviewLifecycle.test.ts receives.
    const byTimer = ["sharing.grant.expired", "sharing.grant.expiring", "sharing.review.completed"];
    expect(new Set(want.map((e) => typeOfAction[e.action]))).toEqual(
      new Set(raisedTypes.filter((t) => !byTimer.includes(t!))),
    );

    // Exactly once: as many requests as entries, each entry matched by one event, no id twice.
    expect(all.requests).toHaveLength(want.length);
    const events = all.requests.map((r) => expectSignedEvent(r, allSecret, w.envId));
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(events.map(keyOfEvent).sort()).toEqual(want.map(keyOfEntry).sort());
    for (const e of events) if (e.data.resourceId) expect(e.subject).toBe(`resources/${e.data.resourceId}`);

    // The narrow subscription got the revokes and nothing else.
    const revokes = want.filter((e) => e.action === "revoke");
    expect(revokes.length).toBeGreaterThan(0);
    const narrowEvents = narrow.requests.map((r) => expectSignedEvent(r, narrowSecret, w.envId));
    expect(narrowEvents.map((e) => e.type)).toEqual(revokes.map(() => "sharing.grant.revoked"));
    expect(narrowEvents.map(keyOfEvent).sort()).toEqual(revokes.map(keyOfEntry).sort());
    // The same change is the same event to both subscriptions.
    const allRevokeIds = events.filter((e) => e.type === "sharing.grant.revoked").map((e) => e.id);
    expect(narrowEvents.map((e) => e.id).sort()).toEqual(allRevokeIds.sort());

    // The delivery log agrees: one delivered delivery per event, each after one attempt.
    const logged = await deliveries(w, "all");
    expect(logged.map((d) => d.eventId).sort()).toEqual(events.map((e) => e.id).sort());
    for (const d of logged) expect(d).toMatchObject({ status: "delivered", attempts: 1, lastStatus: 204 });
  }, 120_000);

  it("retries a 500 with Retry-After: 1 after 5 s, with the same webhook-id; 409 to redeliver while retrying; delivered after 3 attempts", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    await w.user("bob");
    const hook = await receiver(firstTimes(2, { status: 500, headers: { "retry-after": "1" }, body: "busy" }));
    const secret = await subscribe(w, "flaky", hook.url, ["sharing.grant.created"]);
    const p = await w.resource("maker", { kind: "processMining" });
    expect((await w.share("maker", p, "viewer", [{ type: "user", id: w.id("bob") }])).status).toBe(201);

    // After the first failure the delivery waits for its retry: redeliver refuses.
    const waiting = await eventually(
      "the first attempt's failure to be recorded",
      async () => (await deliveries(w, "flaky")).find((d) => d.attempts === 1),
      { intervalMs: 100 },
    );
    expect(waiting).toMatchObject({ status: "pending", lastStatus: 500 });
    expect(Date.parse(waiting.nextAttemptAt!)).toBeGreaterThan(Date.now());
    const refused = await stack.api("POST", hooks(w, `flaky/deliveries/${waiting.deliveryId}/redeliver`), {
      token: w.adminToken,
    });
    expect(expectProblem(refused, 409).detail).toMatch(/still being retried/);

    const done = await eventually(
      "the third attempt to be delivered",
      async () => (await deliveries(w, "flaky")).find((d) => d.status === "delivered"),
      { timeoutMs: 40_000, intervalMs: 200 },
    );
    expect(done).toMatchObject({ attempts: 3, lastStatus: 204, eventId: waiting.eventId });
    expect(done.lastError).toBeUndefined();
    expect(hook.requests.map((r) => r.answered)).toEqual([500, 500, 204]);
    const ids = hook.requests.map((r) => r.headers["webhook-id"]);
    expect(ids).toEqual([waiting.eventId, waiting.eventId, waiting.eventId]);
    // The same bytes each time, each attempt signed afresh.
    expect(new Set(hook.requests.map((r) => r.body)).size).toBe(1);
    for (const r of hook.requests) expectSignedEvent(r, secret, w.envId);
    // Retry-After: 1 is raised to the schedule's shortest wait, 5 s.
    for (let i = 1; i < hook.requests.length; i++)
      expect(hook.requests[i]!.at.getTime() - hook.requests[i - 1]!.at.getTime()).toBeGreaterThanOrEqual(4_500);
    await queueDrained();
    expect(hook.requests).toHaveLength(3);
  }, 90_000);

  it("a 410 disables the subscription until a PUT enables it again; the change log says so", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    await w.user("bob");
    await w.user("carol");
    await w.user("dave");
    const gone = await receiver(() => ({ status: 410 }));
    const control = await receiver();
    const types = ["sharing.grant.created"];
    const goneSecret = await subscribe(w, "gone", gone.url, types);
    await subscribe(w, "control", control.url, types);
    const p = await w.resource("maker", { kind: "processMining" });
    const share = async (who: string) =>
      expect((await w.share("maker", p, "viewer", [{ type: "user", id: w.id(who) }])).status).toBe(201);

    await share("bob");
    const sub = await eventually(
      "the subscription to be disabled",
      async () =>
        (await expectStatus(stack, 200, "GET", hooks(w, "gone"), { token: w.adminToken })).json as {
          disabledAt?: string;
          disabledReason?: string;
        },
      { until: (s) => s.disabledAt !== undefined, intervalMs: 100 },
    );
    expect(sub.disabledReason).toMatch(/410/);
    expect(gone.requests).toHaveLength(1);
    expectSignedEvent(gone.requests[0]!, goneSecret, w.envId);
    const failed = (await deliveries(w, "gone"))[0];
    expect(failed).toMatchObject({ status: "failed", attempts: 1, lastStatus: 410 });
    const disabledLog = await eventually(
      "a webhook.disabled entry",
      async () => (await changeLog(w)).filter((e) => e.action === "webhook.disabled"),
      { until: (l) => l.length > 0 },
    );
    expect(disabledLog).toHaveLength(1);
    expect(disabledLog[0]!.detail).toContain("gone");
    // Disabled: test and redeliver refuse with 409.
    expectProblem(await stack.api("POST", hooks(w, "gone/test"), { token: w.adminToken }), 409);
    expectProblem(
      await stack.api("POST", hooks(w, `gone/deliveries/${failed!.deliveryId}/redeliver`), { token: w.adminToken }),
      409,
    );

    // The next event reaches the control subscription, not the disabled one.
    await share("carol");
    await eventually("the control to get both events", () => control.requests.length, { until: (n) => n === 2 });
    await queueDrained();
    expect(gone.requests).toHaveLength(1);
    expect(await deliveries(w, "gone")).toHaveLength(1);

    // A PUT enables it again (the receiver is back), and the next event is posted to it.
    gone.answer(() => undefined);
    const enabled = await expectStatus(stack, 200, "PUT", hooks(w, "gone"), {
      token: w.adminToken,
      body: { url: gone.url, eventTypes: types },
    });
    expect(enabled.json).not.toHaveProperty("disabledAt");
    await share("dave");
    const third = await eventually("the enabled subscription to get the next event", () => gone.requests[1]);
    expect(expectSignedEvent(third, goneSecret, w.envId).type).toBe("sharing.grant.created");
    expect(third.answered).toBe(204);
    await queueDrained();
    expect(gone.requests).toHaveLength(2);
  }, 90_000);

  it("POST .../test answers with the delivery after its first attempt; redeliver sends the same event again; 404 for an unknown delivery", async () => {
    const w = await newWorld(stack);
    const hook = await receiver();
    const secret = await subscribe(w, "pinged", hook.url, ["sharing.copy.sent"]);

    const tested = await expectStatus(stack, 200, "POST", hooks(w, "pinged/test"), { token: w.adminToken });
    const delivery = tested.json as Delivery;
    expect(delivery).toMatchObject({
      subscriptionId: "pinged",
      eventType: "sharing.webhook.test",
      status: "delivered",
      attempts: 1,
      lastStatus: 204,
    });
    // The attempt was made while the request waited: the receiver has it already.
    expect(hook.requests).toHaveLength(1);
    const event = expectSignedEvent(hook.requests[0]!, secret, w.envId);
    expect(event).toMatchObject({ type: "sharing.webhook.test", id: delivery.eventId, subject: "webhooks/pinged" });

    // A failing receiver: the test answers with the failed first attempt, pending its retry.
    hook.answer(() => ({ status: 503, body: "down for maintenance" }));
    const failing = (await expectStatus(stack, 200, "POST", hooks(w, "pinged/test"), { token: w.adminToken }))
      .json as Delivery & { lastResponse?: string };
    expect(failing).toMatchObject({ status: "pending", attempts: 1, lastStatus: 503 });
    expect(failing.lastResponse).toBe("down for maintenance");
    hook.answer(() => undefined);

    // Redeliver the delivered one: 202, pending, and the receiver gets the same event again.
    const again = await expectStatus(
      stack,
      202,
      "POST",
      hooks(w, `pinged/deliveries/${delivery.deliveryId}/redeliver`),
      { token: w.adminToken },
    );
    expect(again.json).toMatchObject({ deliveryId: delivery.deliveryId, status: "pending", attempts: 0 });
    const redelivered = await eventually(
      "the redelivered event",
      () => hook.requests.find((r, n) => n > 1 && r.headers["webhook-id"] === delivery.eventId),
      { timeoutMs: 20_000 },
    );
    expect(redelivered.body).toBe(hook.requests[0]!.body);
    expectSignedEvent(redelivered, secret, w.envId);
    const after = await eventually(
      "the redelivery to be recorded",
      async () => (await deliveries(w, "pinged")).find((d) => d.deliveryId === delivery.deliveryId),
      { until: (d) => d?.status === "delivered" },
    );
    expect(after).toMatchObject({ attempts: 1, redeliveries: 1 });
    // The failed test event is retried like any delivery, 5 s later.
    const retried = await eventually(
      "the failed test event's retry",
      async () => (await deliveries(w, "pinged")).find((d) => d.deliveryId === failing.deliveryId),
      { until: (d) => d?.status === "delivered", timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(retried).toMatchObject({ attempts: 2, lastStatus: 204 });

    expectProblem(
      await stack.api("POST", hooks(w, "pinged/deliveries/no-such-delivery/redeliver"), { token: w.adminToken }),
      404,
    );
    expectProblem(
      await stack.api("POST", hooks(w, `nobody/deliveries/${delivery.deliveryId}/redeliver`), { token: w.adminToken }),
      404,
    );
  }, 60_000);
});
