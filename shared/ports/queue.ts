import type { EmailJob } from "../model/emailJobs.js";
import type { FanoutMessage } from "../model/fanout.js";

/** A queue a queue-triggered function is triggered by. */
export interface WorkQueue<T> {
  /** Sends one message; Functions queue triggers expect base64 text, which the adapter produces. */
  send(message: T): Promise<void>;
}

/** The outbound email queue the mailer is triggered by. */
export type EmailQueue = WorkQueue<EmailJob>;

/** The fan-out queue: bringing group members' listings in line, off the request path. */
export type FanoutQueue = WorkQueue<FanoutMessage>;
