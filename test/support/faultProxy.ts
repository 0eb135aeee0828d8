/**
 * A TCP proxy on loopback that can cut the line to a service (Azurite's table or queue port) the
 * ways a network or a storage account fails, and restore it:
 *
 * - `pass`: forwards both ways.
 * - `refuse`: stops listening, so a new connection is refused (ECONNREFUSED); open ones are reset.
 * - `reset`: accepts, then resets the connection at once (ECONNRESET); open ones are reset.
 * - `hang`: accepts and swallows everything, answering nothing; open ones stop forwarding too
 *   (a black hole: only the client's own timeout ends a request).
 *
 * Switching back to `pass` resets the black-holed connections, as a recovered network would after
 * its timeouts, and listens on the same port again, so the client's settings need not change.
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export type FaultMode = "pass" | "refuse" | "reset" | "hang";

export interface FaultProxy {
  readonly host: string;
  readonly port: number;
  readonly mode: FaultMode;
  set(mode: FaultMode): Promise<void>;
  /** Connections accepted so far (in any mode but `refuse`). */
  accepted(): number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream?: Socket;
}

export async function startFaultProxy(target: { host: string; port: number }, host = "127.0.0.1"): Promise<FaultProxy> {
  const live = new Set<Pair>();
  let mode: FaultMode = "pass";
  let accepted = 0;
  let server: Server | undefined;
  let port = 0;

  const kill = (pair: Pair) => {
    live.delete(pair);
    if (!pair.client.destroyed) pair.client.resetAndDestroy();
    if (pair.upstream && !pair.upstream.destroyed) pair.upstream.resetAndDestroy();
  };

  const blackHole = (pair: Pair) => {
    const upstream = pair.upstream;
    if (upstream) {
      // Cut the upstream without the close handler that would reset the client: it must hang.
      upstream.removeAllListeners("close");
      upstream.removeAllListeners("error");
      upstream.on("error", () => undefined);
      pair.client.unpipe(upstream);
      upstream.unpipe(pair.client);
      upstream.destroy();
      delete pair.upstream;
    }
    pair.client.on("data", () => undefined);
    pair.client.resume();
  };

  const onConnection = (client: Socket) => {
    accepted++;
    const pair: Pair = { client };
    live.add(pair);
    client.on("error", () => kill(pair));
    client.on("close", () => kill(pair));
    if (mode === "reset") return kill(pair);
    if (mode === "hang") return blackHole(pair);
    const upstream = connect(target.port, target.host);
    pair.upstream = upstream;
    upstream.on("error", () => kill(pair));
    upstream.on("close", () => kill(pair));
    client.pipe(upstream).pipe(client);
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer(onConnection);
      s.once("error", reject);
      s.listen(port, host, () => {
        s.off("error", reject);
        server = s;
        port = (s.address() as AddressInfo).port;
        resolve();
      });
    });

  const stopListening = () => {
    const s = server;
    server = undefined;
    // Closing stops accepting at once; the callback would wait for open connections, which are reset below.
    s?.close();
  };

  await listen();

  return {
    host,
    get port() {
      return port;
    },
    get mode() {
      return mode;
    },
    async set(next) {
      mode = next;
      if (next === "refuse") stopListening();
      else if (!server) await listen();
      for (const pair of [...live]) {
        if (next === "hang") blackHole(pair);
        else kill(pair);
      }
    },
    accepted: () => accepted,
    async close() {
      stopListening();
      for (const pair of [...live]) kill(pair);
    },
  };
}

/** Proxies in front of Azurite's table and queue services, and the connection string through them. */
export interface StorageFaults {
  table: FaultProxy;
  queue: FaultProxy;
  /** `AzureWebJobsStorage` for a host that should reach storage through the proxies. */
  connectionString: string;
  set(mode: FaultMode): Promise<void>;
  close(): Promise<void>;
}

/** Puts proxies in front of the storage a connection string names (TableEndpoint and QueueEndpoint). */
export async function startStorageFaults(connectionString: string): Promise<StorageFaults> {
  const endpoint = (name: string) => {
    const match = new RegExp(`${name}=(http://([^:/;]+):(\\d+)[^;]*)`).exec(connectionString);
    if (!match) throw new Error(`the connection string has no http ${name}`);
    return { url: new URL(match[1]!), host: match[2]!, port: Number(match[3]) };
  };
  const tableAt = endpoint("TableEndpoint");
  const queueAt = endpoint("QueueEndpoint");
  const table = await startFaultProxy(tableAt);
  const queue = await startFaultProxy(queueAt);
  const through = (at: { url: URL }, proxy: FaultProxy) => {
    const url = new URL(at.url.href);
    url.host = `${proxy.host}:${proxy.port}`;
    return url.href.replace(/\/$/, "");
  };
  const proxied = connectionString
    .replace(/TableEndpoint=[^;]*/, `TableEndpoint=${through(tableAt, table)}`)
    .replace(/QueueEndpoint=[^;]*/, `QueueEndpoint=${through(queueAt, queue)}`);
  return {
    table,
    queue,
    connectionString: proxied,
    set: async (mode) => {
      await Promise.all([table.set(mode), queue.set(mode)]);
    },
    close: async () => {
      await Promise.all([table.close(), queue.close()]);
    },
  };
}
