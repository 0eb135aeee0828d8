import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import { StorageQueue } from "../../shared/adapters/queues/storageQueue.js";
import { emailPoisonQueueName, emailQueueName } from "../../shared/appContract.js";
import type { EmailJob } from "../../shared/model/emailJobs.js";
import type { EmailQueue } from "../../shared/ports/queue.js";
import { keys, tableNames } from "../../shared/store/keys.js";
import { type Capabilities } from "../../shared/usecases/capabilities.js";
import { emailOperationId } from "../../shared/usecases/email/handler.js";
import { share } from "../../shared/usecases/sharing.js";
import { stackCaps } from "../support/stackCaps.js";
import { startStack, type Stack } from "../support/stack.js";
import { mailTo, waitForMail } from "../support/mail.js";
import { eventually } from "../support/poll.js";
import { peekTexts, queue, queueLength } from "../support/queues.js";
import { invitationWorld, uid } from "../support/world.js";

// What can go wrong between a share and an inbox: crashes around the outbox relay, and messages
// that can't be sent. The compiled app on the local host, Azurite and the mail sink.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const tables = () => tableNames(stack.settings.TABLE_PREFIX ?? "sharing");

/**
 * The use cases in this test process, on the host's storage, with the email queue replaced: this
 * is the process that dies. Only the queue is faulty; storage is real.
 */
function dyingProcess(emailQueue: EmailQueue): { caps: Capabilities; logs: string[] } {
  const logs: string[] = [];
  const caps = stackCaps(stack, { emailQueue, log: (m) => void logs.push(m) });
  return { caps, logs };
}

const emailItems = async (caps: Capabilities, envId: string, resourceId: string) =>
  (await caps.repo.outbox.items("resources", keys.resourcePk(envId, resourceId))).filter(
    (o) => o.item.type === "email",
  );

async function invitationJobOf(
  caps: Capabilities,
  envId: string,
  resourceId: string,
): Promise<Extract<EmailJob, { kind: "invitation" }>> {
  const full = await caps.repo.fullResourceState(envId, resourceId);
  const inv = full?.invitations[0];
  if (!inv) throw new Error("no invitation stored");
  return { kind: "invitation", envId, resourceId, invitationId: inv.invitationId, nonce: inv.nonce };
}

describe("invitations when things fail", () => {
  it("a process killed between the grant write and the enqueue still yields exactly one email after restart", async () => {
    const w = await invitationWorld(stack);
    await stack.killHost();
    // The grant, the invitation and the outbox row commit together; the process dies before the queue has the job.
    const dying = dyingProcess({ send: () => Promise.reject(new Error("killed before the enqueue")) });
    const result = await share(dying.caps, { principalId: w.maker.id, appRoles: [] }, w.envId, w.resourceId, {
      role: "viewer",
      principals: [{ type: "user", id: w.invitee.id }],
      sendInvitation: true,
    });
    expect(result.created).toBe(true);
    expect(dying.logs.join("\n")).toContain("left for the sweeper");
    expect(await emailItems(dying.caps, w.envId, w.resourceId)).toHaveLength(1);
    const job = await invitationJobOf(dying.caps, w.envId, w.resourceId);
    expect((await peekTexts(stack, emailQueueName)).some((t) => t.includes(job.invitationId))).toBe(false);

    await stack.restartHost();
    // The sweeper's timer runs every minute; run it now rather than wait.
    await stack.runFunction("outboxSweeper");
    const [mail] = await waitForMail(stack, w.invitee.email);
    expect(mail!.operationId).toBe(emailOperationId(`invitation|${job.invitationId}|${job.nonce}`));
    expect(stack.sink.attempts(mail!.operationId)).toBe(1);
    expect(await emailItems(dying.caps, w.envId, w.resourceId)).toEqual([]);
    await w.waitForInvitation(job.invitationId, "sent");
    // A later sweep finds nothing left to send.
    await stack.runFunction("outboxSweeper");
    expect(mailTo(stack, w.invitee.email)).toHaveLength(1);
  });

  it("a process killed after the enqueue but before the outbox row was cleared sends once: the re-relayed job is dropped before it reaches the service", async () => {
    const w = await invitationWorld(stack);
    const real = new StorageQueue({ connectionString: stack.storageConnectionString }, emailQueueName);
    const dying = dyingProcess({
      send: async (job) => {
        await real.send(job);
        throw new Error("killed after the enqueue");
      },
    });
    await share(dying.caps, { principalId: w.maker.id, appRoles: [] }, w.envId, w.resourceId, {
      role: "viewer",
      principals: [{ type: "user", id: w.invitee.id }],
      sendInvitation: true,
    });
    const [mail] = await waitForMail(stack, w.invitee.email);
    expect(await emailItems(dying.caps, w.envId, w.resourceId)).toHaveLength(1);

    await stack.runFunction("outboxSweeper");
    expect(await emailItems(dying.caps, w.envId, w.resourceId)).toEqual([]);
    // The job is on the queue a second time; wait until the mailer has taken it off.
    await eventually("the outbound queue to drain", () => queueLength(stack, emailQueueName), {
      until: (n) => n === 0,
    });
    expect(mailTo(stack, w.invitee.email)).toHaveLength(1);
    // One POST: our own sent record stopped the duplicate, not the sink's deduplication.
    expect(stack.sink.attempts(mail!.operationId)).toBe(1);
  });

  it(
    "an invitation the service refuses through five dequeues goes to the poison queue and reads failed; the next one is delivered",
    { timeout: 120_000 },
    async () => {
      const w = await invitationWorld(stack);
      // 503 with Retry-After: 0 is retried by the SDK at once, 4 attempts per dequeue; 5 dequeues.
      stack.sink.failNext(503, 20, 0);
      const invitationId = await w.shareWithInvitee("viewer");
      await w.waitForInvitation(invitationId, "failed", 100_000);
      await eventually(`the job of ${invitationId} in the poison queue`, () => peekTexts(stack, emailPoisonQueueName), {
        until: (texts) => texts.some((t) => t.includes(invitationId)),
      });
      expect(mailTo(stack, w.invitee.email)).toEqual([]);

      const next = await invitationWorld(stack);
      const nextId = await next.shareWithInvitee("viewer");
      await waitForMail(stack, next.invitee.email);
      await next.waitForInvitation(nextId, "sent");
    },
  );

  it(
    "a message that can never be processed goes to the poison queue while the next message is delivered",
    { timeout: 120_000 },
    async () => {
      // A resource whose stored row is damaged: every attempt to handle a job about it throws.
      const envId = uid("env-broken");
      const resourceId = uid("res-broken");
      const rows = new AzureRowStore({ connectionString: stack.storageConnectionString });
      await rows.transact(tables().resources, keys.resourcePk(envId, resourceId), [
        { op: "upsert", rk: keys.metaRk, fields: { json: "{ damaged" } },
      ]);
      const poison: EmailJob = {
        kind: "invitation",
        envId,
        resourceId,
        invitationId: uid("inv"),
        nonce: "nonce-never-sent",
      };
      const text = JSON.stringify(poison);
      await queue(stack, emailQueueName).sendMessage(Buffer.from(text).toString("base64"));

      const w = await invitationWorld(stack);
      await w.shareWithInvitee("viewer");
      await waitForMail(stack, w.invitee.email);
      // Delivered while the bad message is still being retried.
      expect(await peekTexts(stack, emailPoisonQueueName)).not.toContain(text);

      await eventually("the bad message in the poison queue", () => peekTexts(stack, emailPoisonQueueName), {
        until: (texts) => texts.includes(text),
        timeoutMs: 100_000,
      });
      expect(await queueLength(stack, emailQueueName)).toBe(0);
    },
  );
});
