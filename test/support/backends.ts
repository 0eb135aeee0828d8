import { afterAll, beforeAll } from "vitest";
import { startAzurite, type Azurite } from "../../tools/azurite.js";
import { MemoryRowStore } from "../../shared/adapters/memory/memoryRowStore.js";
import { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import type { RowStore } from "../../shared/ports/rows.js";
import { webhookTargetGuard } from "../../shared/adapters/http/ssrfGuard.js";
import { tableNames } from "../../shared/store/keys.js";
import { openStores } from "../../shared/store/stores.js";
import { sortableId, type Capabilities } from "../../shared/usecases/capabilities.js";

export interface Backend {
  name: string;
  /** A fresh store; `onRequest` sees every HTTP request (Azure) or call (memory). */
  make(onRequest?: (method: string, url: string) => void, onResponse?: () => void): RowStore;
}

/**
 * The two implementations of the storage port that every contract test runs on: the in-memory fake
 * and Azure Tables on a real Azurite started for this file.
 */
export function backends(): Backend[] {
  let azurite: Azurite | undefined;
  beforeAll(async () => {
    azurite = await startAzurite();
  }, 60_000);
  afterAll(async () => {
    await azurite?.stop();
  });
  return [
    {
      name: "memory",
      make: (onRequest, onResponse) => {
        const store = new MemoryRowStore();
        if (!onRequest) return store;
        return new Proxy(store, {
          get(target, prop, receiver) {
            const value = Reflect.get(target, prop, receiver) as unknown;
            if (typeof value !== "function" || prop === "scanPages") return value;
            return (...args: unknown[]) => {
              onRequest(String(prop), String(args[0]));
              const result = (value as (...a: unknown[]) => unknown).apply(target, args);
              return result instanceof Promise ? result.finally(() => onResponse?.()) : result;
            };
          },
        });
      },
    },
    {
      name: "azurite",
      make: (onRequest, onResponse) => {
        if (!azurite) throw new Error("Azurite did not start");
        return new AzureRowStore({
          connectionString: azurite.connectionString,
          ...(onRequest ? { onRequest } : {}),
          ...(onResponse ? { onResponse } : {}),
        });
      },
    },
  ];
}

let counter = 0;
/** A table-name prefix unique to this test, so tests never share data. */
export function uniquePrefix(): string {
  return `t${Date.now().toString(36)}${(counter++).toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`
    .replace(/[^A-Za-z0-9]/g, "")
    .slice(0, 20);
}

/**
 * Capabilities over `rows` whose queues take everything and drop it, for contract tests about
 * storage: no message they send is what the test looks at, and a webhook delivery would be a bug.
 * `allowLoopbackHttp` lets webhook URLs on 127.0.0.1 through the guard (no DNS in these tests).
 */
export function quietCaps(rows: RowStore, options: { allowLoopbackHttp?: boolean } = {}): Capabilities {
  return {
    ...openStores(rows, tableNames(uniquePrefix())),
    emailQueue: { send: async () => undefined },
    fanoutQueue: { send: async () => undefined },
    webhookQueue: { send: async () => undefined },
    deliverWebhook: () => Promise.reject(new Error("no webhook delivery in this test")),
    clock: () => new Date(),
    newId: () => sortableId(),
    invitationTtlDays: 14,
    checkWebhookTarget: webhookTargetGuard({ allowLoopbackHttp: options.allowLoopbackHttp ?? false }),
    log: () => undefined,
  };
}
