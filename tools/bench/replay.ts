/**
 * An operation's own storage requests, sent raw: the reads an HTTP call made (as traced by
 * AnswerPathMeter), replayed with plain TableClients in the same round trips, each round trip's
 * requests together. Only reads replay: a write's body is not traced.
 */
import { RestError, TableClient } from "@azure/data-tables";
import type { TracedRequest } from "./meter.js";

/** What the replay sends: `requests` in `roundTrips` round trips. */
export interface RawReplay {
  requests: number;
  roundTrips: number;
  run: () => Promise<void>;
}

export function rawReplay(trace: readonly TracedRequest[], connectionString: string): RawReplay {
  const clients = new Map<string, TableClient>();
  const client = (table: string) => {
    let c = clients.get(table);
    if (!c) {
      c = TableClient.fromConnectionString(connectionString, table, { allowInsecureConnection: true });
      clients.set(table, c);
    }
    return c;
  };
  const waves: (() => Promise<unknown>)[][] = [];
  for (const r of trace) {
    if (r.method !== "GET") throw new Error(`only reads replay, not ${r.method} ${r.url}`);
    (waves[r.wave - 1] ??= []).push(toRead(r.url, client));
  }
  return {
    requests: trace.length,
    roundTrips: waves.length,
    run: async () => {
      for (const wave of waves) await Promise.all(wave.map((send) => send()));
    },
  };
}

/** The Tables read a request URL names: a point read, or one page of a query from where it continued. */
function toRead(url: string, client: (table: string) => TableClient): () => Promise<unknown> {
  const u = new URL(url);
  const last = decodeURIComponent(u.pathname.split("/").pop() ?? "");
  const m = /^([A-Za-z0-9]+)\((.*)\)$/.exec(last);
  if (!m) throw new Error(`not a Tables read: ${url}`);
  const [, table = "", args = ""] = m;
  const literal = (name: string) => {
    const v = new RegExp(`${name}='((?:[^']|'')*)'`).exec(args)?.[1];
    if (v === undefined) throw new Error(`no ${name} in ${url}`);
    return v.replace(/''/g, "'");
  };
  if (args !== "") {
    const [pk, rk] = [literal("PartitionKey"), literal("RowKey")];
    // The adapter reads a missing row as undefined, not a failure.
    return () =>
      client(table)
        .getEntity(pk, rk)
        .catch((e: unknown) => {
          if (!(e instanceof RestError && e.statusCode === 404)) throw e;
        });
  }
  const filter = u.searchParams.get("$filter");
  const top = Number(u.searchParams.get("$top") ?? "");
  const nextPartitionKey = u.searchParams.get("NextPartitionKey");
  const nextRowKey = u.searchParams.get("NextRowKey");
  // The SDK's continuation token: base64 of the two keys it sends back.
  const continuationToken = nextPartitionKey
    ? Buffer.from(JSON.stringify({ nextPartitionKey, ...(nextRowKey ? { nextRowKey } : {}) })).toString("base64")
    : undefined;
  return () =>
    client(table)
      .listEntities({ queryOptions: filter ? { filter } : {} })
      .byPage({
        ...(Number.isFinite(top) && top > 0 ? { maxPageSize: top } : {}),
        ...(continuationToken ? { continuationToken } : {}),
      })
      .next();
}
