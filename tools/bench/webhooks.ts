/**
 * Webhooks: what subscriptions cost a share on its answer's path. The whole app runs on the local
 * host; a share to one user on a fresh resource goes through HTTP to an environment with no webhook
 * subscription and to one with 3 (made through `putWebhookSubscription`, pointing at a receiver on
 * loopback), interleaved sample by sample. Each call's Tables and queue requests are counted by the
 * AnswerPathMeter into the same round trips (meter.ts: queue requests are seen on Node's
 * http.client channels), so "the event's queue message goes beside the change log write" is
 * measured, not assumed. Beside the meter, the app's webhook queue is wrapped to count the messages
 * the share itself sent, and the receiver counts the deliveries the queue trigger made later.
 */
import { createServer, type Server } from "node:http";
import type { Azurite } from "../azurite.js";
import { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import { webhookQueueName } from "../../shared/appContract.js";
import { webhookEventTypes } from "../../shared/model/webhooks.js";
import { tableNames } from "../../shared/store/keys.js";
import { putEnvironment, putMembership, putUser } from "../../shared/usecases/directory.js";
import { putResource } from "../../shared/usecases/resources.js";
import { putWebhookSubscription } from "../../shared/usecases/webhooks.js";
import { config, elapsed, log } from "./config.js";
import { AnswerPathMeter, formatCounts, type PathCount } from "./meter.js";
import { webhookNotes, webhookRows, webhookTargets } from "./report.js";
import { capabilities, startAppHost, type AppHost } from "./setup.js";
import { interleave, summarize } from "./stats.js";
import { appAdmin, as, forEachLimit } from "./world.js";

const owner = "wh-owner";
const targets = Array.from({ length: 5 }, (_, n) => `wh-user-${n}`);
const environments = [
  { name: "none", envId: "benchwh0", subscriptions: 0 },
  { name: "three", envId: "benchwh3", subscriptions: 3 },
] as const;
const warmup = 2;

/** One measured share: its answer's path, and the webhook messages it sent by the wrapped queue's count. */
interface Sample {
  count: PathCount;
  eventMessages: number;
}

export async function measureWebhooks(azurite: Azurite): Promise<void> {
  const conn = azurite.connectionString;
  const samples = config.webhookSamples;
  const timed = capabilities(new AzureRowStore({ connectionString: conn }), tableNames(config.prefix), conn);
  const receiver = await startReceiver();
  try {
    log(`[${elapsed()}] webhooks: seeding 2 environments, one with 3 subscriptions to ${receiver.url}…`);
    const users = [owner, ...targets];
    await forEachLimit(users, 4, (userId) =>
      putUser(timed, appAdmin, {
        userId,
        email: `${userId}@contoso.example`,
        displayName: `Bench ${userId}`,
        userType: "member",
        enabled: true,
        license: "paid",
      }).then(() => undefined),
    );
    for (const e of environments) {
      await putEnvironment(timed, appAdmin, {
        envId: e.envId,
        displayName: `Bench webhooks, ${e.subscriptions} subscriptions`,
        isDefault: false,
        sensitive: false,
        expectedOwnerGroupIds: [],
        sovereignCloud: false,
      });
      await forEachLimit(users, 4, (userId) =>
        putMembership(timed, appAdmin, { envId: e.envId, userId, securityRoles: ["EnvironmentMaker"] }).then(
          () => undefined,
        ),
      );
      await forEachLimit(
        Array.from({ length: warmup + samples }, (_, k) => k - warmup),
        4,
        (i) =>
          putResource(
            timed,
            as(owner),
            e.envId,
            resourceOf(i),
            { kind: "processMining", displayName: `Bench webhooks ${resourceOf(i)}`, creatorId: owner },
            undefined,
          ).then(() => undefined),
      );
      for (let k = 0; k < e.subscriptions; k++) {
        // Every event type: each subscription wants the share's event.
        await putWebhookSubscription(timed, appAdmin, e.envId, `bench-sub-${k}`, {
          url: `${receiver.url}/hooks/${e.envId}/${k}`,
          eventTypes: [...webhookEventTypes],
          description: "bench receiver on loopback",
        });
      }
    }

    const meter = new AnswerPathMeter(`127.0.0.1:${azurite.queuePort}`);
    const sent = { event: 0, attempt: 0 };
    let app: AppHost | undefined;
    try {
      app = await startAppHost(conn, meter, (caps) => {
        const queue = caps.webhookQueue;
        return {
          webhookQueue: {
            send: (message, options) => {
              sent[message.kind]++;
              return queue.send(message, options);
            },
          },
        };
      });
      log(`[${elapsed()}] webhooks: the whole app on the local host at ${app.host.url}`);
      await measureOn(app, meter, receiver, sent, azurite.queuePort, samples);
    } finally {
      await app?.close();
      meter.close();
    }
  } finally {
    await receiver.close();
  }
}

const resourceOf = (i: number) => `wh-share-${i < 0 ? `w${-i}` : i}`;

async function measureOn(
  app: AppHost,
  meter: AnswerPathMeter,
  receiver: Receiver,
  sent: { event: number; attempt: number },
  queuePort: number,
  samples: number,
): Promise<void> {
  const token = await app.token(owner);
  const measured = new Map<string, Sample[]>(environments.map((e) => [e.name, []]));
  /** Event messages each environment's shares sent (warm-up included): the deliveries to expect. */
  const eventsSent = new Map<string, number>(environments.map((e) => [e.name, 0]));
  const settle = async () => {
    if (!(await meter.idle(config.scale.quietMs, config.scale.indexTimeoutMs)))
      webhookNotes.push(`storage never went quiet within ${config.scale.indexTimeoutMs} ms between samples`);
  };
  const shareOp = (e: (typeof environments)[number]) => ({
    name: e.name,
    run: async (i: number) => {
      const before = sent.event;
      const { value: status, count } = await meter.measure(
        async (headers) => {
          const r = await fetch(`${app.host.url}/api/environments/${e.envId}/resources/${resourceOf(i)}/shares`, {
            method: "POST",
            headers: { ...headers, authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({
              role: "viewer",
              principals: [{ type: "user", id: targets[(i + warmup) % targets.length]! }],
              sendInvitation: false,
            }),
          });
          const text = await r.text();
          if (r.status !== 201) throw new Error(`share in ${e.envId} answered ${r.status}: ${text}`);
          return r.status;
        },
        { trace: true },
      );
      const eventMessages = sent.event - before;
      eventsSent.set(e.name, eventsSent.get(e.name)! + eventMessages);
      if (i >= 0 && status === 201) measured.get(e.name)!.push({ count, eventMessages });
    },
    // The trigger's deliveries land before the next sample, so they run beside no measured call.
    after: async () => {
      await receiver.waitFor(e.envId, e.subscriptions * eventsSent.get(e.name)!, config.scale.indexTimeoutMs);
      await settle();
    },
  });
  log(`[${elapsed()}] webhooks: ${samples} rounds (+${warmup} warm-up) of share, with 0 and with 3 subscriptions…`);
  const times = await interleave(environments.map(shareOp), { warmup, iterations: samples });

  const queueHost = `127.0.0.1:${queuePort}`;
  const isQueue = (url: string) => new URL(url).host === queueHost;
  const isWebhookSend = (url: string) =>
    isQueue(url) && new URL(url).pathname.endsWith(`/${webhookQueueName}/messages`);
  const stats = new Map<string, ReturnType<typeof summarize>>();
  for (const e of environments) {
    const list = measured.get(e.name)!;
    const requests = new Map<string, number>();
    for (const s of list) for (const [k, v] of s.count.requests) requests.set(k, (requests.get(k) ?? 0) + v);
    // Per sample: the webhook queue sends the meter saw on the path, and the fewest Tables requests
    // that went in the same round trip as one of them (0 would mean a round trip of their own).
    const onPath = list.map((s) => (s.count.trace ?? []).filter((t) => isWebhookSend(t.url)));
    const sharedWith = list.flatMap((s, k) =>
      onPath[k]!.map((send) => (s.count.trace ?? []).filter((t) => t.wave === send.wave && !isQueue(t.url)).length),
    );
    const roundTrips = summarize(list.map((s) => s.count.waves));
    stats.set(e.name, roundTrips);
    webhookRows.push({
      operation: `share to one user, ${e.subscriptions} webhook subscriptions`,
      subscriptions: e.subscriptions,
      n: list.length,
      roundTrips,
      requests: summarize(list.map((s) => s.count.total)),
      webhookSendsOnPath: summarize(onPath.map((p) => p.length)),
      eventMessagesSent: summarize(list.map((s) => s.eventMessages)),
      fewestTableRequestsBesideAWebhookSend: sharedWith.length > 0 ? Math.min(...sharedWith) : undefined,
      deliveries: receiver.count(e.envId),
      medianMs: summarize(times.get(e.name) ?? []).median,
      breakdown: formatCounts(requests, list.length),
    });
  }
  const without = stats.get("none")!;
  const withThree = stats.get("three")!;
  webhookTargets.push({
    figure: "share with 3 webhook subscriptions ≤ share without + 1 round trip",
    value: `median ${withThree.median} vs ${without.median}, max ${withThree.max} vs ${without.max}`,
    target: "≤ without + 1 (median and max)",
    met: withThree.n > 0 && without.n > 0 && withThree.median <= without.median + 1 && withThree.max <= without.max + 1,
  });
  webhookNotes.push(
    `Round trips and requests are the AnswerPathMeter's: Tables requests (the adapter's hooks) and queue requests (Node's http.client channels, to ${queueHost}) made for the call between sending it and its answer, in one count of round trips. "webhook sends on the path" are the meter's POSTs to the ${webhookQueueName} queue; "event messages" are the wrapped webhook queue's own count of event messages sent during the call; deliveries are the POSTs the loopback receiver got from the queue trigger, off the path (warm-up included).`,
  );
}

interface Receiver {
  url: string;
  /** POSTs received for an environment's subscriptions. */
  count(envId: string): number;
  /** Resolves once `expected` POSTs for the environment have arrived, or after `timeoutMs` (noted). */
  waitFor(envId: string, expected: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** A webhook receiver on loopback: answers every POST 204 and counts them per environment. */
async function startReceiver(): Promise<Receiver> {
  const received = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const envId = (req.url ?? "").split("/")[2] ?? "";
      if (req.method === "POST") received.set(envId, (received.get(envId) ?? 0) + 1);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the webhook receiver is not listening on TCP");
  const count = (envId: string) => received.get(envId) ?? 0;
  return {
    url: `http://127.0.0.1:${address.port}`,
    count,
    waitFor: async (envId, expected, timeoutMs) => {
      const deadline = performance.now() + timeoutMs;
      while (count(envId) < expected) {
        if (performance.now() > deadline) {
          webhookNotes.push(`${envId}: ${count(envId)} of ${expected} deliveries arrived within ${timeoutMs} ms`);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
