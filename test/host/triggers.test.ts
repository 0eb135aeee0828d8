import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { QueueClient } from "@azure/storage-queue";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type Azurite } from "../../tools/azurite.js";
import { startHost, type LocalHost } from "../../tools/host/index.js";

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** Polls `probe` until it returns a defined value; no fixed sleeps. */
async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface QueueProbe {
  deliveries: { value: unknown; dequeueCount: number; id: string; insertionTime: string; popReceipt: string }[];
  attempts: Record<string, number>;
  attemptTimes: Record<string, number[]>;
  concurrency: Record<string, { now: number; max: number }>;
}
interface TimerProbe {
  everySecond: { count: number; last: unknown };
  manual: { count: number; last: unknown };
}

describe("local host: timers and queues against Azurite", () => {
  let azurite: Azurite;
  let host: LocalHost;
  const workQueue = `work-${randomUUID().slice(0, 8)}`;
  const lines: string[] = [];

  beforeAll(async () => {
    azurite = await startAzurite();
    host = await startHost({
      functionFiles: [fixture("timerApp.ts"), fixture("queueApp.ts")],
      port: 0,
      hostJson: {
        version: "2.0",
        extensions: {
          queues: { maxDequeueCount: 5, visibilityTimeout: "00:00:00", batchSize: 16, maxPollingInterval: "00:00:01" },
        },
      },
      settings: {
        AzureWebJobsStorage: azurite.connectionString,
        WORK_QUEUE: workQueue,
        MANUAL_SCHEDULE: "0 0 0 1 1 *",
      },
      logLine: (line) => lines.push(line),
    });
  });
  afterAll(async () => {
    await host?.close();
    await azurite?.stop();
  });

  const probe = async <T>(path: string): Promise<T> => (await fetch(`${host.url}${path}`)).json() as Promise<T>;
  const queueClient = (name: string) => new QueueClient(azurite.connectionString, name);
  const send = async (value: unknown) => {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    await queueClient(workQueue).sendMessage(Buffer.from(text).toString("base64"));
  };

  it("resolves %SETTING% expressions in triggers", () => {
    expect(host.registrations.find((r) => r.name === "work")?.queueName).toBe(workQueue);
    expect(host.registrations.find((r) => r.name === "manual")?.schedule).toBe("0 0 0 1 1 *");
  });

  it("fires a timer on its one-second NCRONTAB schedule with the Functions timer shape", async () => {
    const seen = await eventually(async () => {
      const p = await probe<TimerProbe>("/api/probe/timers");
      return p.everySecond.count >= 2 ? p.everySecond : undefined;
    });
    expect(seen.last).toMatchObject({ isPastDue: false, schedule: { adjustForDST: true } });
    expect(seen.last).toHaveProperty("scheduleStatus.next");
  });

  it("fires a timer on demand with triggerTimer", async () => {
    const before = (await probe<TimerProbe>("/api/probe/timers")).manual.count;
    await host.triggerTimer("manual");
    expect((await probe<TimerProbe>("/api/probe/timers")).manual.count).toBe(before + 1);
    expect(lines).toContain("[manual] manual timer ran");
    // The admin API does the same over HTTP.
    const response = await fetch(`${host.url}/admin/functions/manual?wait=true`, { method: "POST", body: "{}" });
    expect(response.status).toBe(204);
    expect((await probe<TimerProbe>("/api/probe/timers")).manual.count).toBe(before + 2);
  });

  it("delivers a base64 queue message JSON-parsed, with its trigger metadata, and deletes it", async () => {
    const label = `good-${randomUUID()}`;
    await send({ label, n: 1 });
    const delivery = await eventually(async () =>
      (await probe<QueueProbe>("/api/probe/queue")).deliveries.find((d) => JSON.stringify(d.value).includes(label)),
    );
    expect(delivery.value).toEqual({ label, n: 1 });
    expect(delivery.dequeueCount).toBe(1);
    expect(typeof delivery.id).toBe("string");
    expect(typeof delivery.popReceipt).toBe("string");
    expect(Number.isNaN(Date.parse(delivery.insertionTime))).toBe(false);
    await eventually(async () =>
      (await queueClient(workQueue).getProperties()).approximateMessagesCount === 0 ? true : undefined,
    );
  });

  it("hands a message that is not JSON over as its text", async () => {
    const label = `plain-${randomUUID()}`;
    await send(label);
    const delivery = await eventually(async () =>
      (await probe<QueueProbe>("/api/probe/queue")).deliveries.find((d) => d.value === label),
    );
    expect(delivery.dequeueCount).toBe(1);
  });

  it("retries a failing message maxDequeueCount times, then moves it to <queue>-poison, while a later good message is delivered", async () => {
    const poisonLabel = `poison-${randomUUID()}`;
    const goodLabel = `good-${randomUUID()}`;
    await send({ label: poisonLabel });
    await send({ label: goodLabel });

    const good = await eventually(async () =>
      (await probe<QueueProbe>("/api/probe/queue")).deliveries.find((d) => JSON.stringify(d.value).includes(goodLabel)),
    );
    expect(good.dequeueCount).toBe(1);

    const poisonQueue = queueClient(`${workQueue}-poison`);
    const poisoned = await eventually(async () => {
      const peeked = await poisonQueue.peekMessages({ numberOfMessages: 32 }).catch(() => undefined);
      return peeked?.peekedMessageItems.find((m) =>
        Buffer.from(m.messageText, "base64").toString("utf8").includes(poisonLabel),
      );
    });
    // Same body as sent: still base64 of the JSON.
    expect(JSON.parse(Buffer.from(poisoned.messageText, "base64").toString("utf8"))).toEqual({ label: poisonLabel });
    expect((await probe<QueueProbe>("/api/probe/queue")).attempts[poisonLabel]).toBe(5);
    await eventually(async () =>
      (await queueClient(workQueue).getProperties()).approximateMessagesCount === 0 ? true : undefined,
    );
  });

  it("moves a message that is not base64 straight to the poison queue, unchanged", async () => {
    const raw = `not base64 ${randomUUID()}!`;
    await queueClient(workQueue).sendMessage(raw);
    const poisoned = await eventually(async () => {
      const peeked = await queueClient(`${workQueue}-poison`)
        .peekMessages({ numberOfMessages: 32 })
        .catch(() => undefined);
      return peeked?.peekedMessageItems.find((m) => m.messageText === raw);
    });
    expect(poisoned.dequeueCount).toBe(0);
  });

  it("runs a queue function through the admin API with the given input", async () => {
    const label = `admin-${randomUUID()}`;
    const response = await fetch(`${host.url}/admin/functions/work?wait=true`, {
      method: "POST",
      body: JSON.stringify({ input: JSON.stringify({ label }) }),
    });
    expect(response.status).toBe(204);
    expect(
      (await probe<QueueProbe>("/api/probe/queue")).deliveries.some(
        (d) => JSON.stringify(d.value) === JSON.stringify({ label }),
      ),
    ).toBe(true);
    expect((await fetch(`${host.url}/admin/functions/nope`, { method: "POST" })).status).toBe(404);
  });

  it("renews the lease of a message whose handler outlasts it, so it is delivered once", async () => {
    const leaseQueue = `lease-${randomUUID().slice(0, 8)}`;
    const second = await startHost({
      functionFiles: [fixture("queueApp.ts")],
      port: 0,
      hostJson: { extensions: { queues: { maxPollingInterval: "00:00:00.2" } } },
      settings: { AzureWebJobsStorage: azurite.connectionString, WORK_QUEUE: leaseQueue },
      queueLeaseSeconds: 1,
      logLine: () => undefined,
    });
    try {
      const label = `slow-${randomUUID()}`;
      await queueClient(leaseQueue).createIfNotExists();
      await queueClient(leaseQueue).sendMessage(Buffer.from(JSON.stringify({ label })).toString("base64"));
      const delivery = await eventually(async () =>
        (await probe<QueueProbe>("/api/probe/queue")).deliveries.find((d) => JSON.stringify(d.value).includes(label)),
      );
      expect(delivery.dequeueCount).toBe(1);
      expect((await probe<QueueProbe>("/api/probe/queue")).attempts[label]).toBe(1);
      await eventually(async () =>
        (await queueClient(leaseQueue).getProperties()).approximateMessagesCount === 0 ? true : undefined,
      );
    } finally {
      await second.close();
    }
  });

  it("waits visibilityTimeout before delivering a failed message again", async () => {
    const retryQueue = `retry-${randomUUID().slice(0, 8)}`;
    const visibilityTimeoutMs = 2000;
    const third = await startHost({
      functionFiles: [fixture("queueApp.ts")],
      port: 0,
      hostJson: { extensions: { queues: { visibilityTimeout: "00:00:02", maxPollingInterval: "00:00:00.2" } } },
      settings: { AzureWebJobsStorage: azurite.connectionString, WORK_QUEUE: retryQueue },
      logLine: () => undefined,
    });
    try {
      const label = `flaky-${randomUUID()}`;
      await queueClient(retryQueue).createIfNotExists();
      await queueClient(retryQueue).sendMessage(Buffer.from(JSON.stringify({ label })).toString("base64"));
      const delivery = await eventually(async () =>
        (await probe<QueueProbe>("/api/probe/queue")).deliveries.find((d) => JSON.stringify(d.value).includes(label)),
      );
      expect(delivery.dequeueCount).toBe(2);
      const [first, second] = (await probe<QueueProbe>("/api/probe/queue")).attemptTimes[label] ?? [];
      // A lower bound, which load can only make larger: the message stayed invisible that long.
      // (Azurite keeps visibility to the second, so allow for its rounding.)
      expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(visibilityTimeoutMs - 1000);
    } finally {
      await third.close();
    }
  });

  it("runs the messages of a batch at the same time, at most batchSize at once, each exactly once", async () => {
    const burstQueue = `burst-${randomUUID().slice(0, 8)}`;
    const group = `burst-${randomUUID()}`;
    const batchSize = 4;
    const labels = Array.from({ length: 24 }, (_, i) => `${group}-${i}`);
    // Queued before the host starts, so its first receive finds a full batch.
    await queueClient(burstQueue).createIfNotExists();
    for (const label of labels)
      await queueClient(burstQueue).sendMessage(Buffer.from(JSON.stringify({ label, group })).toString("base64"));
    const burstHost = await startHost({
      functionFiles: [fixture("queueApp.ts")],
      port: 0,
      hostJson: { extensions: { queues: { batchSize, maxPollingInterval: "00:00:00.2" } } },
      settings: { AzureWebJobsStorage: azurite.connectionString, WORK_QUEUE: burstQueue },
      logLine: () => undefined,
    });
    try {
      const done = await eventually(async () => {
        const p = await probe<QueueProbe>("/api/probe/queue");
        const delivered = p.deliveries.filter((d) =>
          labels.some((label) => JSON.stringify(d.value).includes(`"${label}"`)),
        );
        return delivered.length >= labels.length ? p : undefined;
      });
      const max = done.concurrency[group]?.max ?? 0;
      expect(max).toBeGreaterThan(1);
      expect(max).toBeLessThanOrEqual(batchSize);
      for (const label of labels) {
        expect(done.attempts[label], label).toBe(1);
        expect(
          done.deliveries.filter((d) => JSON.stringify(d.value) === JSON.stringify({ label, group })),
        ).toHaveLength(1);
      }
      await eventually(async () =>
        (await queueClient(burstQueue).getProperties()).approximateMessagesCount === 0 ? true : undefined,
      );
    } finally {
      await burstHost.close();
    }
  });
});
