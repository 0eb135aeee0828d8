/** Probes of the storage queues the stack's host uses, read with the SDK straight from Azurite. */
import { QueueClient } from "@azure/storage-queue";
import type { Stack } from "./stack.js";

export const queue = (stack: Stack, name: string) => new QueueClient(stack.storageConnectionString, name);

/** Messages (decoded) currently visible in a queue, up to 32, without taking them. */
export async function peekTexts(stack: Stack, name: string): Promise<string[]> {
  const q = queue(stack, name);
  if (!(await q.exists())) return [];
  const peeked = await q.peekMessages({ numberOfMessages: 32 });
  return peeked.peekedMessageItems.map((m) => Buffer.from(m.messageText, "base64").toString("utf8"));
}

/** How many messages a queue holds, invisible ones included. */
export async function queueLength(stack: Stack, name: string): Promise<number> {
  const q = queue(stack, name);
  if (!(await q.exists())) return 0;
  return (await q.getProperties()).approximateMessagesCount ?? 0;
}
