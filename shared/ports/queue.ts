import type { EmailJob } from "../model/emailJobs.js";

/** The outbound email queue the mailer is triggered by. */
export interface EmailQueue {
  /** Sends one job; Functions queue triggers expect base64 text, which the adapter produces. */
  send(job: EmailJob): Promise<void>;
}
