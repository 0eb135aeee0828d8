import type { EmailJob } from "../model/emailJobs.js";
import type { FanoutMessage } from "../model/fanout.js";
import type { WebhookMessage } from "../webhooks/messages.js";

/** A queue a queue-triggered function is triggered by. */
export interface WorkQueue<T> {
  /**
   * Sends one message; Functions queue triggers expect base64 text, which the adapter produces. With
   * `delaySeconds` the message stays invisible that long first (Azure allows up to 7 days).
   */
  send(message: T, options?: { delaySeconds?: number }): Promise<void>;
}

/** The outbound email queue the mailer is triggered by. */
export type EmailQueue = WorkQueue<EmailJob>;

/** The fan-out queue: bringing group members' listings in line, off the request path. */
export type FanoutQueue = WorkQueue<FanoutMessage>;

/** The webhook queue: events to deliver, and each delivery's next attempt, delayed by its retry wait. */
export type WebhookQueue = WorkQueue<WebhookMessage>;
