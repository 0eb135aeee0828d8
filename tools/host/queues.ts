/**
 * Queue triggers with the semantics of the Functions storage queue extension: base64 messages,
 * batches processed concurrently, a lease renewed while a handler runs, `visibilityTimeout`
 * between retries and `<queue>-poison` after `maxDequeueCount` dequeues.
 */
import { randomUUID } from "node:crypto";
import { format } from "node:util";
import { QueueServiceClient, type DequeuedMessageItem, type QueueClient } from "@azure/storage-queue";
import type { FunctionEntry, QueueConfig, Trigger } from "./bindings.js";

export type QueueFunction = FunctionEntry<Extract<Trigger, { kind: "queue" }>>;

/** The handler gets the message JSON-parsed when it parses, else the text (Functions does the same). */
export function parseQueueText(text: string): unknown {
  const trimmed = text.trimStart();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/;

/** Queue clients per connection setting and queue, each queue created once. */
export class QueueClients {
  readonly #settings: Record<string, string | undefined>;
  readonly #services = new Map<string, QueueServiceClient>();
  readonly #queues = new Map<string, { client: QueueClient; ready: Promise<unknown> }>();
  constructor(settings: Record<string, string | undefined>) {
    this.#settings = settings;
  }

  /** The queue's client and a promise that it exists. */
  get(connection: string, queueName: string): { client: QueueClient; ready: Promise<unknown> } {
    const key = `${connection}|${queueName}`;
    let entry = this.#queues.get(key);
    if (entry === undefined) {
      let service = this.#services.get(connection);
      if (service === undefined) {
        // Checked when the bindings were read, so only a settings object changed since can miss it.
        const connectionString = this.#settings[connection];
        if (!connectionString) throw new Error(`setting ${connection} (a queue connection) is not set`);
        service = QueueServiceClient.fromConnectionString(connectionString);
        this.#services.set(connection, service);
      }
      const client = service.getQueueClient(queueName);
      const ready = client.createIfNotExists();
      // Let the next caller try again if creating failed (storage not up yet, say).
      ready.catch(() => this.#queues.delete(key));
      entry = { client, ready };
      this.#queues.set(key, entry);
    }
    return entry;
  }
}

export interface ListenerDeps {
  queues: QueueClients;
  config: QueueConfig;
  /** How long a received message stays invisible while its handler runs; renewed at half time. */
  leaseSeconds: number;
  logLine: (line: string) => void;
  track: <T>(promise: Promise<T>) => Promise<T>;
  /** Runs the function on one message; rejects if it failed. */
  run: (message: DequeuedMessageItem, input: unknown, triggerMetadata: Record<string, unknown>) => Promise<void>;
}

/**
 * Polls one queue for one function: a new batch fetched when in-flight work drops to
 * `newBatchThreshold` (so at most `batchSize` run at once), exponential back-off up to
 * `maxPollingInterval` while the queue is empty.
 */
export class QueueListener {
  readonly #fn: QueueFunction;
  readonly #deps: ListenerDeps;
  #stopped = false;
  #inflight = 0;
  #loop: Promise<void> | undefined;
  #wakeUp: (() => void) | undefined;
  /** A wake-up that came while the loop was not sleeping; the next sleep returns at once. */
  #wakePending = false;

  constructor(fn: QueueFunction, deps: ListenerDeps) {
    this.#fn = fn;
    this.#deps = deps;
  }

  start(): void {
    this.#loop ??= this.#poll();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake();
    await this.#loop;
  }

  /** Cuts the current sleep short: a handler finished, or the listener stops. */
  #wake(): void {
    if (this.#wakeUp) this.#wakeUp();
    else this.#wakePending = true;
  }

  #sleep(ms: number): Promise<void> {
    if (this.#wakePending || this.#stopped) {
      this.#wakePending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakeUp = done;
    });
  }

  async #poll(): Promise<void> {
    const { config, queues, logLine } = this.#deps;
    const { queueName, connection } = this.#fn.trigger;
    const minDelay = 100;
    let delay = minDelay;
    while (!this.#stopped) {
      if (this.#inflight > config.newBatchThreshold) {
        // Wait until enough of the batch has finished (each completion wakes this loop).
        await this.#sleep(config.maxPollingIntervalMs);
        continue;
      }
      let messages: DequeuedMessageItem[];
      try {
        const { client, ready } = queues.get(connection, queueName);
        await ready;
        const response = await client.receiveMessages({
          numberOfMessages: Math.min(32, config.batchSize - this.#inflight),
          visibilityTimeout: this.#deps.leaseSeconds,
        });
        messages = response.receivedMessageItems;
      } catch (error) {
        if (this.#stopped) break;
        logLine(
          `[host] WARN: polling queue ${queueName} for ${this.#fn.name} failed: ${error instanceof Error ? error.message : format(error)}`,
        );
        messages = [];
      }
      if (messages.length === 0) {
        await this.#sleep(delay);
        delay = Math.min(delay * 2, config.maxPollingIntervalMs);
        continue;
      }
      delay = minDelay;
      if (this.#stopped) {
        // Received while closing: hand them straight back rather than start work nobody waits for.
        const { client } = queues.get(connection, queueName);
        await Promise.allSettled(messages.map((m) => client.updateMessage(m.messageId, m.popReceipt, undefined, 0)));
        break;
      }
      for (const message of messages) {
        this.#inflight++;
        void this.#deps
          .track(this.#process(message))
          .catch((error: unknown) =>
            logLine(`[host] ERROR: queue ${queueName}: ${error instanceof Error ? error.message : format(error)}`),
          )
          .finally(() => {
            this.#inflight--;
            this.#wake();
          });
      }
    }
  }

  async #process(message: DequeuedMessageItem): Promise<void> {
    const { config, queues, leaseSeconds, logLine } = this.#deps;
    const { queueName, connection } = this.#fn.trigger;
    const { client } = queues.get(connection, queueName);
    // The pop receipt changes with every lease renewal; delete and release need the latest one.
    let popReceipt = message.popReceipt;
    let renewal: Promise<void> = Promise.resolve();
    const renewTimer = setInterval(
      () => {
        renewal = client.updateMessage(message.messageId, popReceipt, undefined, leaseSeconds).then(
          (r) => {
            if (r.popReceipt) popReceipt = r.popReceipt;
          },
          () => undefined,
        );
      },
      (leaseSeconds * 1000) / 2,
    );

    const poison = async (reason: string): Promise<void> => {
      logLine(`[host] WARN: moving message ${message.messageId} to ${queueName}-poison: ${reason}`);
      // Same body as received; sent before the delete so a crash in between duplicates, never loses.
      const poisonQueue = queues.get(connection, `${queueName}-poison`);
      await poisonQueue.ready;
      await poisonQueue.client.sendMessage(message.messageText);
      await renewal;
      await client.deleteMessage(message.messageId, popReceipt);
    };

    try {
      if (message.dequeueCount > config.maxDequeueCount) {
        // Received more often than allowed without ever failing in a handler: the host died mid-run.
        await poison(`dequeue count ${message.dequeueCount} exceeds maxDequeueCount ${config.maxDequeueCount}`);
        return;
      }
      if (!base64Pattern.test(message.messageText) || message.messageText.length % 4 !== 0) {
        // No retry can make it decodable.
        await poison("the message is not valid base64 (the Functions queue trigger expects base64)");
        return;
      }
      const text = Buffer.from(message.messageText, "base64").toString("utf8");
      const triggerMetadata: Record<string, unknown> = {
        queueTrigger: text,
        dequeueCount: message.dequeueCount,
        id: message.messageId,
        popReceipt: message.popReceipt,
        insertionTime: message.insertedOn.toISOString(),
        expirationTime: message.expiresOn.toISOString(),
        nextVisibleTime: message.nextVisibleOn.toISOString(),
        sys: { methodName: this.#fn.name, utcNow: new Date().toISOString(), randGuid: randomUUID() },
      };
      let failed = false;
      try {
        await this.#deps.run(message, parseQueueText(text), triggerMetadata);
      } catch {
        failed = true;
      }
      clearInterval(renewTimer);
      await renewal;
      if (!failed) {
        await client.deleteMessage(message.messageId, popReceipt);
      } else if (message.dequeueCount >= config.maxDequeueCount) {
        await poison(`failed ${message.dequeueCount} times`);
      } else {
        // Back on the queue after visibilityTimeout, to be tried again.
        await client.updateMessage(
          message.messageId,
          popReceipt,
          undefined,
          Math.round(config.visibilityTimeoutMs / 1000),
        );
      }
    } finally {
      clearInterval(renewTimer);
    }
  }
}
