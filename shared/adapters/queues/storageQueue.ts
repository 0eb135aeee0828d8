import type { TokenCredential } from "@azure/core-auth";
import { QueueClient } from "@azure/storage-queue";
import { unavailable } from "../../errors.js";
import type { EmailJob } from "../../model/emailJobs.js";
import type { WorkQueue } from "../../ports/queue.js";

/** How long one send may take in all, retries included. */
const sendTimeoutMs = 8_000;

/** A queue on Azure Storage (the outbound email queue, the fan-out queue); messages are base64 JSON, as Functions queue triggers expect. */
export class StorageQueue<T = EmailJob> implements WorkQueue<T> {
  private readonly client: QueueClient;
  private created: Promise<unknown> | undefined;

  constructor(
    target: { connectionString: string } | { queueServiceUri: string; credential: TokenCredential },
    queueName: string,
  ) {
    // tryTimeoutInMs: a queue that accepts connections and never answers must fail the send (the
    // relay then leaves the job to the sweeper), not hold the request that triggered it.
    const options = {
      retryOptions: { maxTries: 3, retryDelayInMs: 100, maxRetryDelayInMs: 1000, tryTimeoutInMs: 5_000 },
    };
    this.client =
      "connectionString" in target
        ? new QueueClient(target.connectionString, queueName, options)
        : new QueueClient(`${target.queueServiceUri.replace(/\/$/, "")}/${queueName}`, target.credential, options);
  }

  async send(job: T, options?: { delaySeconds?: number }): Promise<void> {
    try {
      // One bound for the whole send, retries included: the queue client's per-try timeout was seen
      // not to end a send to an account that accepts connections and never answers (the fault tests'
      // black hole), which held the share that triggered it past 45 s.
      const abortSignal = AbortSignal.timeout(sendTimeoutMs);
      this.created ??= this.client.createIfNotExists({ abortSignal }).catch((e: unknown) => {
        this.created = undefined;
        throw e;
      });
      await this.created;
      await this.client.sendMessage(Buffer.from(JSON.stringify(job)).toString("base64"), {
        abortSignal,
        // A delay (at most a day here) well inside the message's default 7-day life.
        ...(options?.delaySeconds ? { visibilityTimeout: Math.ceil(options.delaySeconds) } : {}),
      });
    } catch (e) {
      throw unavailable(`the queue ${this.client.name} is unavailable`, e);
    }
  }
}
