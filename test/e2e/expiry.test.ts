/**
 * Time-bound grants end to end (contract v2, "Time-bound grants"): through HTTP on the local host with
 * real Azurite, grants expiring a few seconds ahead. Checks, effective access and listings flip at the
 * instant with no sweep (the `grantExpiry` timer's schedule is moved out of the test's way, and run
 * by hand); the timer removes the grant with its change log entry, event and owners' note; a reminder
 * is sent once across two runs; caps refuse with 422; PATCH extends and shortens; owner grants of the
 * creator refuse expiry.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mailTo, waitForMail } from "../support/mail.js";
import { eventually } from "../support/poll.js";
import { startStack, type Stack } from "../support/stack.js";
import { startReceiver, type WebhookReceiver } from "../support/webhookReceiver.js";
import { expectProblem, expectStatus, newWorld, type World } from "../support/world.js";

let stack: Stack;
let receiver: WebhookReceiver;
beforeAll(async () => {
  // Once a year (1 January, 00:00): the scheduled runs never fall inside the test.
  stack = await startStack({ env: { GRANT_EXPIRY_SCHEDULE: "0 0 0 1 1 *" } });
  receiver = await startReceiver();
}, 120_000);
afterAll(async () => {
  await receiver?.close();
  await stack?.stop();
});

interface LogItem {
  action: string;
  actorId: string;
  principal?: { type: string; id: string };
  role?: string;
}

const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();

async function processWorld(env: Record<string, unknown> = {}) {
  const w = await newWorld(stack, env);
  await w.user("maker");
  await w.user("bob", { roles: ["BasicUser"] });
  const resourceId = await w.resource("maker", { kind: "processMining", analyticsReady: true });
  return { w, resourceId };
}

const canView = async (w: World, resourceId: string, who: string) => {
  const r = await expectStatus(stack, 200, "POST", `/api/environments/${w.envId}/check`, {
    token: w.adminToken,
    body: { checks: [{ principalId: w.id(who), resourceId, action: "processMining.viewDetails" }] },
  });
  return (r.json as { results: { allowed: boolean }[] }).results[0]!.allowed;
};
const rolesOf = async (w: World, resourceId: string, who: string) =>
  ((await w.as("maker", "GET", `resources/${resourceId}/access/${w.id(who)}`)).json as { roles: string[] }).roles;
const listed = async (w: World, who: string) =>
  (
    (await w.as(who, "GET", `principals/${w.id(who)}/resources`)).json as {
      resources: { resourceId: string }[];
    }
  ).resources.map((r) => r.resourceId);
const log = async (w: World) =>
  (
    (await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/changes`, { token: w.adminToken })).json as {
      items: LogItem[];
    }
  ).items;

describe("time-bound grants", () => {
  it("flip at the instant without a sweep; the timer removes them with the log entry, the event and the owners' note", async () => {
    const { w, resourceId } = await processWorld();
    await expectStatus(stack, 201, "PUT", `/api/environments/${w.envId}/webhooks/hook1`, {
      token: w.adminToken,
      body: { url: receiver.url, eventTypes: ["sharing.grant.expired", "sharing.grant.expiring"] },
    });
    const expiresAt = inMs(4_000);
    const shared = await w.share("maker", resourceId, "viewer", [{ type: "user", id: w.id("bob") }], { expiresAt });
    expect(shared.status, shared.text).toBe(201);
    expect((shared.json as { grants: { expiresAt?: string }[] }).grants[0]!.expiresAt).toBe(expiresAt);
    const shares = await w.as("maker", "GET", `resources/${resourceId}/shares`);
    expect((shares.json as { grants: { principalId: string; expiresAt?: string }[] }).grants).toContainEqual(
      expect.objectContaining({ principalId: w.id("bob"), expiresAt }),
    );
    expect(await canView(w, resourceId, "bob")).toBe(true);
    expect(await rolesOf(w, resourceId, "bob")).toEqual(["viewer"]);
    expect(await listed(w, "bob")).toEqual([resourceId]);

    // The check flips by itself; until the instant it said yes.
    await eventually("bob's check to flip", () => canView(w, resourceId, "bob"), {
      until: (allowed) => !allowed,
      timeoutMs: 15_000,
    });
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(expiresAt));
    expect(await rolesOf(w, resourceId, "bob")).toEqual([]);
    expect(await listed(w, "bob")).toEqual([]);
    // Nothing swept it: no expire entry yet.
    expect((await log(w)).filter((e) => e.action === "expire")).toEqual([]);

    await stack.runFunction("grantExpiry");
    await stack.runFunction("grantExpiry");
    const expired = (await log(w)).filter((e) => e.action === "expire");
    expect(expired).toEqual([
      expect.objectContaining({ actorId: "system", principal: { type: "user", id: w.id("bob") }, role: "viewer" }),
    ]);
    const after = (await w.as("maker", "GET", `resources/${resourceId}/shares`)).json as {
      grants: { principalId: string }[];
    };
    expect(after.grants.map((g) => g.principalId)).toEqual([w.id("maker")]);
    const events = await eventually(
      "the grant.expired event",
      () => receiver.events().filter((e) => e.source === `/environments/${w.envId}`),
      { until: (es) => es.length >= 1 },
    );
    expect(events.map((e) => [e.type, e.data.actorId, e.data.principal?.id])).toEqual([
      ["sharing.grant.expired", "system", w.id("bob")],
    ]);
    const notes = await waitForMail(stack, w.email("maker"));
    expect(notes.map((m) => m.subject)).toEqual([expect.stringMatching(/has expired/)]);
  });

  it("reminds a day ahead, the grantee and the owners once each across two timer runs", async () => {
    const { w, resourceId } = await processWorld();
    // Due in 3 s: the one-day reminder of a grant ending a day and 3 s from now (the 14-day one is skipped).
    await w.share("maker", resourceId, "viewer", [{ type: "user", id: w.id("bob") }], {
      expiresAt: inMs(86_400_000 + 3_000),
    });
    await eventually(
      "the reminder to come due",
      async () => {
        await stack.runFunction("grantExpiry");
        return (await log(w)).filter((e) => e.action === "expiring");
      },
      { until: (es) => es.length > 0, timeoutMs: 15_000, intervalMs: 500 },
    );
    await stack.runFunction("grantExpiry");
    expect((await log(w)).filter((e) => e.action === "expiring")).toHaveLength(1);
    const [toBob] = await waitForMail(stack, w.email("bob"));
    const [toMaker] = await waitForMail(stack, w.email("maker"));
    expect(toBob!.subject).toMatch(/Your access .* expires tomorrow/);
    expect(toMaker!.subject).toMatch(/expires tomorrow/);
    // Let stray copies arrive before counting: the mailer is the last to see a repeat.
    await stack.runFunction("outboxSweeper");
    expect(mailTo(stack, w.email("bob"))).toHaveLength(1);
    expect(mailTo(stack, w.email("maker"))).toHaveLength(1);
    expect(await canView(w, resourceId, "bob")).toBe(true);
  });

  it("PATCH extends and shortens, removes expiry where no cap applies, and owner grants refuse expiry", async () => {
    const { w, resourceId } = await processWorld();
    const bob = w.id("bob");
    const path = `resources/${resourceId}/shares/user/${bob}/viewer`;
    await w.share("maker", resourceId, "viewer", [{ type: "user", id: bob }], { expiresAt: inMs(2_000) });
    const later = inMs(3_600_000);
    const extended = await w.as("maker", "PATCH", path, { expiresAt: later });
    expect(extended.status, extended.text).toBe(200);
    expect((extended.json as { grant: { expiresAt?: string } }).grant.expiresAt).toBe(later);
    // Bob can't extend his own access: viewers may not share.
    expectProblem(await w.as("bob", "PATCH", path, { expiresAt: inMs(7_200_000) }), 403);

    const soon = inMs(2_000);
    expect((await w.as("maker", "PATCH", path, { expiresAt: soon })).status).toBe(200);
    await eventually("the shortened grant to end", () => canView(w, resourceId, "bob"), {
      until: (allowed) => !allowed,
      timeoutMs: 15_000,
    });
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(soon));
    // Expired (though not swept): there is no grant left to patch.
    expectProblem(await w.as("maker", "PATCH", path, { expiresAt: inMs(60_000) }), 404);

    await w.share("maker", resourceId, "viewer", [{ type: "user", id: bob }], { expiresAt: inMs(60_000) });
    const forever = await w.as("maker", "PATCH", path, { expiresAt: null });
    expect(forever.status, forever.text).toBe(200);
    expect((forever.json as { grant: Record<string, unknown> }).grant).not.toHaveProperty("expiresAt");

    const owner = expectProblem(
      await w.as("maker", "PATCH", `resources/${resourceId}/shares/user/${w.id("maker")}/owner`, {
        expiresAt: inMs(60_000),
      }),
      422,
    );
    expect(owner.detail).toMatch(/can't expire/);
    const past = expectProblem(await w.as("maker", "PATCH", path, { expiresAt: inMs(-1_000) }), 400);
    expect(past.errors?.map((e) => e.field)).toEqual(["body.expiresAt"]);
    const pastShare = expectProblem(
      await w.share("maker", resourceId, "viewer", [{ type: "user", id: bob }], { expiresAt: "yesterday" }),
      400,
    );
    expect(pastShare.errors?.map((e) => e.field)).toEqual(["body.expiresAt"]);
  });

  it("refuses with 422 naming the cap: none asked, or more than the cap, for members and guests", async () => {
    const { w, resourceId } = await processWorld({ maxGrantDays: 30, guestMaxGrantDays: 7 });
    await w.user("gus", { roles: ["BasicUser"], userType: "guest" });
    const bob = { type: "user", id: w.id("bob") };
    const none = expectProblem(await w.share("maker", resourceId, "viewer", [bob]), 422);
    expect(none.detail).toMatch(/maxGrantDays/);
    const tooLong = expectProblem(
      await w.share("maker", resourceId, "viewer", [bob], { expiresAt: inMs(31 * 86_400_000) }),
      422,
    );
    expect(tooLong.detail).toMatch(/maxGrantDays \(30\)/);
    const guest = expectProblem(
      await w.share("maker", resourceId, "viewer", [{ type: "user", id: w.id("gus") }], {
        expiresAt: inMs(8 * 86_400_000),
      }),
      422,
    );
    expect(guest.detail).toMatch(/guestMaxGrantDays \(7\)/);
    expect((await w.share("maker", resourceId, "viewer", [bob], { expiresAt: inMs(29 * 86_400_000) })).status).toBe(
      201,
    );
    const removal = expectProblem(
      await w.as("maker", "PATCH", `resources/${resourceId}/shares/user/${bob.id}/viewer`, { expiresAt: null }),
      422,
    );
    expect(removal.detail).toMatch(/maxGrantDays/);
  });

  it("sends each reminder once when the host is killed in the middle of the timer's run", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    const names = Array.from({ length: 30 }, (_, i) => `grantee${i}`);
    for (const n of names) await w.user(n, { roles: ["BasicUser"] });
    await expectStatus(stack, 201, "PUT", `/api/environments/${w.envId}/webhooks/crash`, {
      token: w.adminToken,
      body: { url: receiver.url, eventTypes: ["sharing.grant.expiring"] },
    });
    // Every grant's one-day reminder is due 3 s from now: one run of the timer has 30 steps to do.
    const expiresAt = inMs(86_400_000 + 3_000);
    for (const part of [names.slice(0, 15), names.slice(15)]) {
      const resourceId = await w.resource("maker", { kind: "processMining" });
      const r = await w.share(
        "maker",
        resourceId,
        "viewer",
        part.map((n) => ({ type: "user", id: w.id(n) })),
        { expiresAt },
      );
      expect(r.status, r.text).toBe(201);
    }
    await eventually("the reminders to come due", () => Date.now(), {
      until: (now) => now >= Date.parse(expiresAt) - 86_400_000,
      timeoutMs: 15_000,
    });
    const expiring = async () => (await log(w)).filter((e) => e.action === "expiring");
    const run = stack.runFunction("grantExpiry").catch(() => "killed");
    await eventually("the run's first reminder", expiring, { until: (es) => es.length > 0, intervalMs: 10 });
    await stack.killHost();
    await run;

    await stack.restartHost();
    // What the killed run committed (nothing runs the timer until this test does).
    const atKill = (await expiring()).length;
    await stack.runFunction("outboxSweeper");
    await stack.runFunction("grantExpiry");
    await stack.runFunction("grantExpiry");
    expect((await expiring()).map((e) => e.principal?.id).sort()).toEqual(names.map((n) => w.id(n)).sort());
    for (const n of names) expect((await waitForMail(stack, w.email(n))).map((m) => m.subject)).toHaveLength(1);
    await waitForMail(stack, w.email("maker"), 30);
    const ids = await eventually(
      "one event per reminder",
      () =>
        new Set(
          receiver
            .events()
            .filter((e) => e.source === `/environments/${w.envId}` && e.type === "sharing.grant.expiring")
            .map((e) => e.id),
        ),
      { until: (s) => s.size >= 30 },
    );
    expect(ids.size).toBe(30);
    // Whatever was in flight at the kill has landed by now: still one email each.
    await stack.runFunction("outboxSweeper");
    for (const n of names) expect(mailTo(stack, w.email(n))).toHaveLength(1);
    expect(mailTo(stack, w.email("maker"))).toHaveLength(30);
    console.log(`expiry crash: ${atKill} of 30 reminders logged when the host was killed`);
  });
});
