import { MemoryRowStore } from "../../shared/adapters/memory/memoryRowStore.js";
import { webhookTargetGuard } from "../../shared/adapters/http/ssrfGuard.js";
import { testDns } from "./testDns.js";
import type { EmailJob } from "../../shared/model/emailJobs.js";
import type { FanoutMessage } from "../../shared/model/fanout.js";
import { handleFanout } from "../../shared/usecases/fanout.js";
import { postWebhook } from "../../shared/adapters/http/webhookSender.js";
import { handleWebhookMessage } from "../../shared/usecases/webhookDelivery.js";
import type { WebhookMessage } from "../../shared/webhooks/messages.js";
import { tableNames } from "../../shared/store/keys.js";
import { openStores } from "../../shared/store/stores.js";
import type { SecurityRole } from "../../shared/model/records.js";
import { sortableId, type Caller, type Capabilities } from "../../shared/usecases/capabilities.js";
import { putEnvironment, putMembership, putUser } from "../../shared/usecases/directory.js";

/** Use-case capabilities on the in-memory store, with the email queue kept in an array. */
export function memoryCaps(store = new MemoryRowStore(), clock: () => Date = () => new Date()) {
  const sent: EmailJob[] = [];
  const logs: string[] = [];
  const fanout: FanoutMessage[] = [];
  /** Webhook queue messages with the delay each was sent with. */
  const webhooks: { message: WebhookMessage; delaySeconds: number }[] = [];
  const checkWebhookTarget = webhookTargetGuard({ allowLoopbackHttp: true, resolve: testDns });
  const caps: Capabilities = {
    // The repository reads at the same clock, so a test that moves it sees grants expire (docs/expiry.md).
    ...openStores(store, tableNames("t"), clock),
    emailQueue: { send: async (job) => void sent.push(job) },
    fanoutQueue: { send: async (m) => void fanout.push(m) },
    webhookQueue: { send: async (message, o) => void webhooks.push({ message, delaySeconds: o?.delaySeconds ?? 0 }) },
    clock,
    newId: () => sortableId(),
    invitationTtlDays: 14,
    checkWebhookTarget,
    deliverWebhook: (attempt) => postWebhook({ ...attempt, check: checkWebhookTarget }),
    log: (m) => void logs.push(m),
  };
  /** Runs the fan-out queue's messages (and those they send on) until none is left, as the trigger would. */
  const drainFanout = async (): Promise<number> => {
    let handled = 0;
    for (let m = fanout.shift(); m; m = fanout.shift()) {
      await handleFanout(caps, m);
      handled++;
    }
    return handled;
  };
  /**
   * Runs the webhook queue's messages (and those they send on, delays ignored) until none is left,
   * each as a first dequeue. Returns the delays the messages it ran were sent with.
   */
  const drainWebhooks = async (): Promise<number[]> => {
    const delays: number[] = [];
    for (let m = webhooks.shift(); m; m = webhooks.shift()) {
      delays.push(m.delaySeconds);
      await handleWebhookMessage(caps, m.message, { dequeueCount: 1 });
    }
    return delays;
  };
  return { caps, store, sent, logs, fanout, drainFanout, webhooks, drainWebhooks };
}

/** Who to put in the directory: an id, whether enabled, and roles in the environment (null: no membership). */
export type Person = readonly [id: string, enabled: boolean, roles: readonly SecurityRole[] | null];

const setupApp: Caller = { principalId: "setup-app", appRoles: ["Sharing.Admin"] };

/** Environment `envId` (not sensitive, no expected owner groups) and its people, written through the use cases. */
export async function seedDirectory(
  caps: Capabilities,
  envId: string,
  people: readonly Person[],
  emailDomain = "x.test",
): Promise<void> {
  await putEnvironment(caps, setupApp, {
    envId,
    displayName: envId.toUpperCase(),
    isDefault: false,
    sensitive: false,
    expectedOwnerGroupIds: [],
    sovereignCloud: false,
  });
  for (const [id, enabled, roles] of people) {
    await putUser(caps, setupApp, {
      userId: id,
      email: `${id}@${emailDomain}`,
      displayName: id,
      userType: "member",
      enabled,
      license: "paid",
    });
    if (roles) await putMembership(caps, setupApp, { envId, userId: id, securityRoles: [...roles] });
  }
}
