/** Probes of the mail sink the stack's host sends email to. */
import type { SinkMessage } from "../../tools/mailSink.js";
import { eventually, giveUp } from "./poll.js";
import type { Stack } from "./stack.js";

/** The messages to `address` the sink holds now. */
export const mailTo = (stack: Stack, address: string): SinkMessage[] =>
  stack.sink.messages().filter((m) => m.to.includes(address));

/** Waits for exactly `count` messages to `address` and returns them (newest first); more is a failure. */
export function waitForMail(stack: Stack, address: string, count = 1, timeoutMs?: number): Promise<SinkMessage[]> {
  return eventually(
    `${count} message(s) to ${address}`,
    () => {
      const list = mailTo(stack, address);
      if (list.length > count) giveUp(`${list.length} messages arrived`);
      return list;
    },
    { until: (list) => list.length === count, ...(timeoutMs === undefined ? {} : { timeoutMs }) },
  );
}

/** Waits for a message to `address` whose subject matches, and returns the first such. */
export function waitForSubject(stack: Stack, address: string, subject: RegExp): Promise<SinkMessage> {
  return eventually(`an email to ${address} matching ${subject}`, () =>
    mailTo(stack, address).find((m) => subject.test(m.subject)),
  );
}

/** The invitation link in an email (plain text). */
export function linkIn(stack: Stack, message: SinkMessage): string {
  const match = new RegExp(
    `${stack.baseUrl.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/api/invitations/([A-Za-z0-9_.-]+)`,
  ).exec(message.plainText);
  if (!match) throw new Error(`no invitation link in: ${message.plainText}`);
  return match[0];
}

/** The reviewer's page link in a `reviewRequest` email (plain text); the token is URL-encoded there. */
export function reviewLinkIn(stack: Stack, message: SinkMessage): string {
  const match = new RegExp(
    `${stack.baseUrl.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/api/review-pages/[A-Za-z0-9_.~%-]+`,
  ).exec(message.plainText);
  if (!match) throw new Error(`no review link in: ${message.plainText}`);
  return match[0];
}

/** The invitation token at the end of a link. */
export const tokenOf = (link: string) => link.slice(link.lastIndexOf("/") + 1);
