/**
 * The app killed between commit and delivery: resources are made and shared through HTTP while a
 * slow receiver holds attempts in flight, and the host is killed mid-way (some changes answered and
 * queued, some attempts half-made, some requests still running). After a restart every event of a
 * committed change reaches the receiver, and a receiver that drops repeats by `webhook-id` ends with
 * exactly one of each.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { webhookQueueName } from "../../shared/appContract.js";
import { eventually } from "../support/poll.js";
import { queueLength } from "../support/queues.js";
import { startStack, type Stack } from "../support/stack.js";
import {
  deduplicated,
  startReceiver,
  verifyIndependently,
  verifyWithPackage,
  type ReceivedEvent,
  type WebhookReceiver,
} from "../support/webhookReceiver.js";
import { allPages, expectStatus, newWorld } from "../support/world.js";

let stack: Stack;
let hook: WebhookReceiver | undefined;
beforeAll(async () => {
  stack = await startStack();
}, 120_000);
afterAll(async () => {
  await hook?.close();
  await stack?.stop();
});

interface LogItem {
  action: string;
  actorId: string;
  at: string;
  resourceId?: string;
  principal?: { type: string; id: string };
  detail: string;
}

const typeOfAction: Record<string, string> = {
  grant: "sharing.grant.created",
  "resource.registered": "sharing.resource.created",
};

describe("webhook delivery through a crash", () => {
  it("delivers every committed change's event after the host is killed mid-way and restarted; deduplicated by webhook-id, one of each", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    const n = 30;
    const people = Array.from({ length: n }, (_, i) => `u${i}`);
    for (const p of people) await w.user(p);
    // Slow: attempts are still in flight, and messages still queued, when the host dies.
    hook = await startReceiver(() => ({ status: 204, delayMs: 1_500 }));
    const made = await expectStatus(stack, 201, "PUT", `/api/environments/${w.envId}/webhooks/crash`, {
      token: w.adminToken,
      body: { url: hook.url, eventTypes: Object.values(typeOfAction) },
    });
    const secret = (made.json as { secret: string }).secret;

    // Six lanes each register a resource and share it, until the host is killed under them.
    const ids = people.map((_, i) => `crash-${w.envId}-${i}`);
    let answered = 0;
    let killed = false;
    const lane = async (lane: number) => {
      for (let i = lane; i < n && !killed; i += 6) {
        try {
          const put = await w.as("maker", "PUT", `resources/${ids[i]}`, {
            kind: "processMining",
            displayName: `Crash ${i}`,
            creatorId: w.id("maker"),
          });
          if (put.status !== 201) throw new Error(`PUT resource ${i}: ${put.status} ${put.text}`);
          const share = await w.share("maker", ids[i]!, "viewer", [{ type: "user", id: w.id(people[i]!) }]);
          if (share.status !== 201) throw new Error(`share ${i}: ${share.status} ${share.text}`);
          answered++;
        } catch (e) {
          // A request the kill cut off: its change may or may not have committed.
          if (!killed) throw e;
        }
      }
    };
    const lanes = Promise.all([0, 1, 2, 3, 4, 5].map(lane));
    await eventually("half the shares to be answered", () => answered, { until: (a) => a >= n / 2, intervalMs: 10 });
    killed = true;
    await stack.killHost();
    await lanes;
    const atKill = { answered, received: hook.requests.length, distinct: deduplicated(hook.requests).length };

    // Back, fast now; the sweeper (a timer each minute) is run at once for outbox items the kill left.
    hook.answer(() => undefined);
    await stack.restartHost();
    await stack.runFunction("outboxSweeper");
    // Whether the kill left outbox items (changes committed, their events not yet sent): for the report.
    const swept = /relayed (\d+) partition/.exec(stack.logs())?.[1] ?? "0";

    // What committed, read from the resources themselves: which exist, which hold their share.
    const committed = async () => {
      const states = await Promise.all(
        ids.map(async (id, i) => {
          const r = await stack.api("GET", `/api/environments/${w.envId}/resources/${id}/shares`, {
            token: w.adminToken,
          });
          if (r.status === 404) return { exists: false, shared: false };
          if (r.status !== 200) throw new Error(`GET shares of ${id}: ${r.status}`);
          const grants = (r.json as { grants: { principalId: string }[] }).grants;
          return { exists: true, shared: grants.some((g) => g.principalId === w.id(people[i]!)) };
        }),
      );
      return {
        resources: states.filter((s) => s.exists).length,
        shares: states.filter((s) => s.shared).length,
      };
    };
    // The entries that raise the subscribed events, every page.
    const changeLog = async () =>
      (await allPages<LogItem>(stack, `/api/environments/${w.envId}/changes`, w.adminToken)).filter(
        (e) => typeOfAction[e.action] !== undefined,
      );

    const truth = await committed();
    // Every answered change committed; the kill cut some off before they did.
    expect(truth.shares).toBeGreaterThanOrEqual(atKill.answered);
    const expectedEvents = truth.resources + truth.shares;
    // The kill came before the receiver had everything: there was something left to deliver.
    expect(atKill.distinct).toBeLessThan(expectedEvents);

    const log = await eventually("the change log to hold every committed change", changeLog, {
      until: (l) => l.length === expectedEvents,
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    await eventually("every event at the receiver", () => deduplicated(hook!.requests).length, {
      until: (d) => d >= expectedEvents,
      timeoutMs: 90_000,
      intervalMs: 200,
    });
    await eventually("the webhook queue to drain", () => queueLength(stack, webhookQueueName), {
      until: (q) => q === 0,
      timeoutMs: 60_000,
      intervalMs: 500,
    });

    const kept = deduplicated(hook.requests);
    const events = kept.map((r) => JSON.parse(r.body) as ReceivedEvent);
    // Exactly one of each committed change, and nothing else.
    const key = (type: string | undefined, at: string, resourceId?: string, principalId?: string) =>
      JSON.stringify([type, at, resourceId, principalId]);
    expect(events.map((e) => key(e.type, e.time, e.data.resourceId, e.data.principal?.id)).sort()).toEqual(
      log.map((e) => key(typeOfAction[e.action], e.at, e.resourceId, e.principal?.id)).sort(),
    );
    // Every request, repeats included, is signed and is a copy of its event's first delivery.
    const firstBody = new Map(kept.map((r) => [r.headers["webhook-id"], r.body]));
    for (const r of hook.requests) {
      expect(() => verifyWithPackage(r, secret)).not.toThrow();
      expect(verifyIndependently(r, secret)).toBe(true);
      expect(r.body).toBe(firstBody.get(r.headers["webhook-id"]));
    }
    const duplicates = hook.requests.length - kept.length;
    console.log(
      `webhook crash: ${n} resources tried, ${atKill.answered} shares answered before the kill; ${truth.resources} resources and ${truth.shares} shares committed; ` +
        `${atKill.distinct} distinct events received at the kill (${atKill.received} requests); the sweeper relayed ${swept} partition(s) after the restart; ` +
        `finally ${hook.requests.length} requests for ${kept.length} events (${duplicates} duplicates dropped by webhook-id)`,
    );
  }, 300_000);
});
