/**
 * What the sections measure with: the use cases' capabilities over Azurite, the local Functions host
 * in this process serving the real compiled functions, a bare node:http server to compare it with,
 * and the raw Tables queries the service's own requests are compared with.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { TableClient } from "@azure/data-tables";
import { startHost, type LocalHost } from "../host/index.js";
import { signDevToken } from "../../shared/adapters/http/devToken.js";
import { webhookTargetGuard } from "../../shared/adapters/http/ssrfGuard.js";
import { StorageQueue } from "../../shared/adapters/queues/storageQueue.js";
import { emailQueueName, fanoutQueueName, webhookQueueName } from "../../shared/appContract.js";
import { postWebhook } from "../../shared/adapters/http/webhookSender.js";
import type { WebhookMessage } from "../../shared/webhooks/messages.js";
import type { FanoutMessage } from "../../shared/model/fanout.js";
import type * as AppTables from "../../shared/adapters/tables/azureRowStore.js";
import type * as AppSettings from "../../shared/config.js";
import type * as AppMain from "../../shared/main.js";
import type { RowStore } from "../../shared/ports/rows.js";
import type * as AppKeys from "../../shared/store/keys.js";
import type * as AppStores from "../../shared/store/stores.js";
import type { TableNames } from "../../shared/store/keys.js";
import type { ResourceChange } from "../../shared/store/repository.js";
import { openStores } from "../../shared/store/stores.js";
import { sortableId, type Capabilities } from "../../shared/usecases/capabilities.js";
import { config, log, root } from "./config.js";

/** The commit of the share being measured calls `onCommitted`, so "up to the commit" can be read off. */
export const commitProbe: { onCommitted: (() => void) | undefined } = { onCommitted: undefined };

export function capabilities(store: RowStore, tables: TableNames, connectionString: string): Capabilities {
  const stores = openStores(store, tables);
  const repo = stores.repo;
  const commit = repo.commit.bind(repo);
  repo.commit = async (change: ResourceChange) => {
    const etag = await commit(change);
    commitProbe.onCommitted?.();
    return etag;
  };
  return {
    ...stores,
    emailQueue: new StorageQueue({ connectionString }, `${emailQueueName}-bench`),
    fanoutQueue: new StorageQueue<FanoutMessage>({ connectionString }, `${fanoutQueueName}-bench`),
    webhookQueue: new StorageQueue<WebhookMessage>({ connectionString }, `${webhookQueueName}-bench`),
    clock: () => new Date(),
    newId: () => sortableId(),
    invitationTtlDays: 14,
    // Loopback http allowed, as `npm start` and the tests allow it: the webhooks section's
    // subscriptions point at a receiver on loopback (webhooks.ts).
    checkWebhookTarget: webhookTargetGuard({ allowLoopbackHttp: true }),
    deliverWebhook: (attempt) => postWebhook({ ...attempt, check: webhookTargetGuard({ allowLoopbackHttp: true }) }),
    log: (m) => log(`  [use case log] ${m}`),
  };
}

const devKey = "bench-development-signing-key-0123456789";

/** The settings the app's modules read as they load: storage, the bench's tables, dev tokens, no real email. */
function useBenchSettings(connectionString: string): void {
  Object.assign(process.env, {
    AzureWebJobsStorage: connectionString,
    TABLE_PREFIX: config.prefix,
    AUTH_DEV_SIGNING_KEY: devKey,
    INVITATION_SIGNING_KEY: "bench-invitation-signing-key-0123456789abcdef",
    ACS_CONNECTION_STRING: "endpoint=http://127.0.0.1:9/;accesskey=YmVuY2g=",
    EMAIL_SENDER: "DoNotReply@bench.test",
    PUBLIC_BASE_URL: "http://127.0.0.1:9",
    APP_BASE_URL: "http://127.0.0.1:9/app",
    // The app host's delivery trigger posts to the webhooks section's receiver on loopback.
    WEBHOOK_ALLOW_LOOPBACK_HTTP: "true",
  });
}

/** The local host, the token its check function accepts, and a bare server to compare it with. */
export interface BenchHost {
  host: LocalHost;
  token: (sub: string) => Promise<string>;
  /** The bench's trivial function on the host: the host's own cost, with no use case behind it. */
  trivialUrl: string;
  /** A bare node:http server answering the trivial function's body, byte for byte. */
  bareUrl: string;
  close(): Promise<void>;
}

/**
 * The local Functions host, in this process, serving the real compiled check and health functions
 * and the bench's trivial function; and beside it a bare node:http server answering what the trivial
 * function answers.
 */
export async function startLocalHost(connectionString: string): Promise<BenchHost> {
  useBenchSettings(connectionString);
  const functionsDir = join(root, "dist", "functions");
  const hostJson: unknown = JSON.parse(readFileSync(join(root, "host.json"), "utf8"));
  const host = await startHost({
    functionFiles: [
      join(functionsDir, "check.js"),
      join(functionsDir, "health.js"),
      join(dirname(fileURLToPath(import.meta.url)), "trivialFunction.js"),
    ],
    port: 0,
    hostname: "127.0.0.1",
    hostJson,
    disableTimerSchedules: true,
    logLine: () => undefined,
  });
  const trivialPath = "/api/bench/trivial";
  const trivialUrl = `${host.url}${trivialPath}`;
  let bare: { url: string; close: () => Promise<void> };
  try {
    bare = await startBareServer(await get200(trivialUrl), trivialPath);
  } catch (error) {
    await host.close();
    throw error;
  }
  return {
    host,
    token: (sub) => signDevToken(devKey, { sub }),
    trivialUrl,
    bareUrl: bare.url,
    close: async () => {
      await bare.close();
      await host.close();
    },
  };
}

/** The whole app on the local host, as `npm start` serves it. */
export interface AppHost {
  host: LocalHost;
  /** A development token: a user's, or an app's with `roles`. */
  token: (sub: string, roles?: string[]) => Promise<string>;
  close(): Promise<void>;
}

/**
 * Every compiled function as `npm start` loads them (HTTP, queue triggers, and timers, which run
 * only on demand here), on services whose row store calls `hooks` around each Tables request. The
 * services go in through the app's test seam (`useServices`) of the compiled app's own modules in
 * dist/: the tools' copy of shared/ is another module instance, whose errors the app's error map
 * and retry loops would not recognise.
 */
export async function startAppHost(
  connectionString: string,
  hooks: Pick<AppTables.AzureRowStoreOptions, "onRequest" | "onResponse">,
  /** Replaces some of the app's capabilities (e.g. a queue wrapped to count its sends). */
  adapt?: (caps: AppMain.Services["caps"]) => Partial<AppMain.Services["caps"]>,
): Promise<AppHost> {
  useBenchSettings(connectionString);
  // Typed by the sources they are compiled from.
  const appModule = <T>(path: string) => import(pathToFileURL(join(root, "dist", "shared", path)).href) as Promise<T>;
  const [main, settings, tables, stores, keys] = await Promise.all([
    appModule<typeof AppMain>("main.js"),
    appModule<typeof AppSettings>("config.js"),
    appModule<typeof AppTables>("adapters/tables/azureRowStore.js"),
    appModule<typeof AppStores>("store/stores.js"),
    appModule<typeof AppKeys>("store/keys.js"),
  ]);
  const previous = main.getServices();
  const base = main.createServices(settings.parseSettings(process.env));
  const rows = new tables.AzureRowStore({ connectionString, ...hooks });
  const names = keys.tableNames(config.prefix);
  // Created (or found) now, so no measured call pays a store's first use of a table.
  await Promise.all(Object.values(names).map((t) => rows.ensureTable(t)));
  const caps = { ...base.caps, ...stores.openStores(rows, names) };
  main.useServices({ ...base, caps: { ...caps, ...adapt?.(caps) } });
  const functionsDir = join(root, "dist", "functions");
  let host: LocalHost;
  try {
    host = await startHost({
      functionFiles: readdirSync(functionsDir)
        .filter((f) => f.endsWith(".js"))
        .sort()
        .map((f) => join(functionsDir, f)),
      port: 0,
      hostname: "127.0.0.1",
      hostJson: JSON.parse(readFileSync(join(root, "host.json"), "utf8")) as unknown,
      disableTimerSchedules: true,
      // Failures of queue-triggered work would otherwise pass unseen.
      logLine: (line) => {
        if (/\b(ERROR|WARN):/.test(line)) log(`  [host] ${line}`);
      },
    });
  } catch (error) {
    main.useServices(previous);
    throw error;
  }
  return {
    host,
    token: (sub, roles) => signDevToken(devKey, { sub, ...(roles ? { roles } : {}) }),
    close: async () => {
      await host.close();
      main.useServices(previous);
    },
  };
}

/** GETs `url`, failing unless it answers 200; resolves its body. */
export async function get200(url: string): Promise<string> {
  const r = await fetch(url);
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${url} answered ${r.status}: ${text}`);
  return text;
}

async function startBareServer(body: string, path: string): Promise<{ url: string; close: () => Promise<void> }> {
  // Content-Type and Content-Length only: the least a JSON answer needs.
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the bare server is not listening on TCP");
  return {
    url: `http://127.0.0.1:${address.port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** An OData string literal. */
export const q = (v: string) => `'${v.replace(/'/g, "''")}'`;

/** How many rows the first page (up to 1,000) of a filtered query holds. */
export async function firstPageLength(client: TableClient, filter: string): Promise<number> {
  const page = await client.listEntities({ queryOptions: { filter } }).byPage({ maxPageSize: 1000 }).next();
  return page.done ? 0 : page.value.length;
}
