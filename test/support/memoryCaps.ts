import { MemoryRowStore } from "../../shared/adapters/memory/memoryRowStore.js";
import type { EmailJob } from "../../shared/model/emailJobs.js";
import { tableNames } from "../../shared/store/keys.js";
import { openStores } from "../../shared/store/stores.js";
import { sortableId, type Capabilities } from "../../shared/usecases/capabilities.js";

/** Use-case capabilities on the in-memory store, with the email queue kept in an array. */
export function memoryCaps(store = new MemoryRowStore()) {
  const sent: EmailJob[] = [];
  const logs: string[] = [];
  const caps: Capabilities = {
    ...openStores(store, tableNames("t")),
    emailQueue: { send: async (job) => void sent.push(job) },
    clock: () => new Date(),
    newId: () => sortableId(),
    invitationTtlDays: 14,
    log: (m) => void logs.push(m),
  };
  return { caps, store, sent, logs };
}
