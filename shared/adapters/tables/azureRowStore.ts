import { odata, RestError, TableClient, type TableEntityResult, type TransactionAction } from "@azure/data-tables";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import type { TokenCredential } from "@azure/core-auth";
import { z } from "zod";
import { ConcurrencyError, invalid, StorageLimitError, unavailable, type StorageLimit } from "../../errors.js";
import { checkKeys, checkTransaction } from "../../ports/rowLimits.js";
import {
  partitionBounds,
  prefixEnd,
  type Page,
  type PartitionRange,
  type Row,
  type RowKeyRange,
  type RowStore,
  type WriteOp,
} from "../../ports/rows.js";

const systemProperties = new Set(["partitionKey", "rowKey", "etag", "timestamp", "odata.etag", "odata.metadata"]);

export interface AzureRowStoreOptions {
  /** Either a connection string, or the table service's URI and a credential (managed identity in Azure). */
  connectionString?: string;
  endpoint?: string;
  credential?: TokenCredential;
  /** Called for every HTTP request sent to storage, retries included: the request-count budget tests use it. */
  onRequest?: (method: string, url: string) => void;
  /** Called when that request's response (or failure) arrives: with onRequest, shows which requests overlapped. */
  onResponse?: (method: string, url: string) => void;
  /** How long one storage request may take before it is abandoned (default 5 s): storage that stops answering is unavailable, not a hung caller. */
  requestTimeoutMs?: number;
}

/** The storage port on Azure Table Storage (or Azurite). Tables are created on first use. */
export class AzureRowStore implements RowStore {
  private readonly clients = new Map<string, TableClient>();
  private readonly created = new Map<string, Promise<void>>();

  constructor(private readonly options: AzureRowStoreOptions) {}

  private client(table: string): TableClient {
    let c = this.clients.get(table);
    if (!c) {
      const timeoutMs = this.options.requestTimeoutMs ?? 5_000;
      const policies: { policy: PipelinePolicy; position: "perRetry" }[] = [
        {
          position: "perRetry",
          // The SDK sets no timeout: without one, a storage account that accepts connections and never
          // answers holds every request forever. A timed-out try is not retried (the SDK throws AbortError).
          policy: {
            name: "storageRequestTimeout",
            sendRequest: (request, next) => {
              request.timeout ||= timeoutMs;
              return next(request);
            },
          },
        },
      ];
      const { onRequest, onResponse } = this.options;
      if (onRequest) {
        policies.push({
          position: "perRetry",
          policy: {
            name: "countStorageRequests",
            sendRequest: (request, next) => {
              onRequest(request.method, request.url);
              return next(request).finally(() => onResponse?.(request.method, request.url));
            },
          },
        });
      }
      const clientOptions = {
        allowInsecureConnection: (this.options.connectionString ?? this.options.endpoint ?? "").includes("http://"),
        additionalPolicies: policies,
        retryOptions: { maxRetries: 2, retryDelayInMs: 100, maxRetryDelayInMs: 1000 },
      };
      const { connectionString, endpoint, credential } = this.options;
      if (connectionString) c = TableClient.fromConnectionString(connectionString, table, clientOptions);
      else if (endpoint && credential) c = new TableClient(endpoint, table, credential, clientOptions);
      else throw new Error("the table store needs a connection string, or an endpoint and a credential");
      this.clients.set(table, c);
    }
    return c;
  }

  /** Creates the table once per process; concurrent first callers share one creation. */
  async ensureTable(table: string): Promise<TableClient> {
    const c = this.client(table);
    let p = this.created.get(table);
    if (!p) {
      p = c.createTable().catch((e: unknown) => {
        this.created.delete(table);
        throw e;
      });
      this.created.set(table, p);
    }
    await p;
    return c;
  }

  private async run<T>(
    table: string,
    what: string,
    f: (c: TableClient) => Promise<T>,
    rows?: { pk: string; rks: readonly string[] },
  ): Promise<T> {
    try {
      return await f(await this.ensureTable(table));
    } catch (e) {
      throw translate(e, `${what} on ${table}`, table, rows);
    }
  }

  async get(table: string, pk: string, rk: string): Promise<Row | undefined> {
    checkKeys(table, pk, rk);
    return this.run(table, "read", async (c) => {
      try {
        return toRow(await c.getEntity(pk, rk));
      } catch (e) {
        if (e instanceof RestError && e.statusCode === 404) return undefined;
        throw e;
      }
    });
  }

  queryPage(
    table: string,
    pk: string,
    ranges: readonly RowKeyRange[],
    options: { continuation?: string | undefined; pageSize?: number } = {},
  ): Promise<Page> {
    return this.onePage(table, "query", `PartitionKey eq ${quote(pk)}${rowKeyFilter(ranges)}`, options);
  }

  scanRange(
    table: string,
    partitions: PartitionRange,
    ranges: readonly RowKeyRange[],
    options: { continuation?: string | undefined; pageSize?: number } = {},
  ): Promise<Page> {
    const { from, to } = partitionBounds(partitions);
    const filter = `PartitionKey ge ${quote(from)} and PartitionKey lt ${quote(to)}${rowKeyFilter(ranges)}`;
    return this.onePage(table, "range scan", filter, options);
  }

  /** One page of a filtered listing; the service may answer a short or empty page with a continuation. */
  private onePage(
    table: string,
    what: string,
    filter: string,
    options: { continuation?: string | undefined; pageSize?: number },
  ): Promise<Page> {
    // Continuation tokens come back from callers: one the SDK can't decode is bad input (400), not storage being down.
    if (options.continuation && !continuationSchema.safeParse(decodeContinuation(options.continuation)).success) {
      return Promise.reject(
        invalid("the continuation token is not one this API gave out", [
          { field: "query.continuationToken", message: "not a valid token" },
        ]),
      );
    }
    return this.run(table, what, async (c) => {
      const pages = c.listEntities({ queryOptions: { filter } }).byPage({
        maxPageSize: Math.min(options.pageSize ?? 1000, 1000),
        ...(options.continuation ? { continuationToken: options.continuation } : {}),
      });
      const next = await pages.next();
      if (next.done) return { rows: [] };
      const page = next.value;
      return { rows: page.map(toRow), continuation: page.continuationToken };
    });
  }

  async *scanPages(table: string, rkPrefix: string, options: { pageSize?: number } = {}): AsyncIterable<Row[]> {
    const filter = odata`RowKey ge ${rkPrefix} and RowKey lt ${prefixEnd(rkPrefix)}`;
    const c = await this.run(table, "scan", async (client) => client);
    const pages = c
      .listEntities({ queryOptions: { filter } })
      .byPage({ maxPageSize: Math.min(options.pageSize ?? 1000, 1000) });
    while (true) {
      let next;
      try {
        next = await pages.next();
      } catch (e) {
        throw translate(e, `scan on ${table}`, table);
      }
      if (next.done) return;
      yield next.value.map(toRow);
    }
  }

  async transact(table: string, pk: string, ops: readonly WriteOp[]): Promise<Map<string, string>> {
    checkTransaction(table, pk, ops);
    if (ops.length === 0) return new Map();
    const rows = { pk, rks: ops.map((o) => o.rk) };
    const only = ops[0]!;
    if (ops.length === 1 && only.op !== "delete") {
      // One row needs no batch: a plain entity request is atomic too, cheaper, and always answers
      // with the new ETag (inside a batch, Azurite omits the ETags of updates).
      return this.run(
        table,
        "write",
        async (c) => {
          const entity = { partitionKey: pk, rowKey: only.rk, ...only.fields };
          const response =
            only.op === "insert"
              ? await c.createEntity(entity)
              : only.op === "upsert"
                ? await c.upsertEntity(entity, "Replace")
                : await c.updateEntity(entity, "Replace", { etag: only.etag });
          return new Map(response.etag ? [[only.rk, response.etag]] : []);
        },
        rows,
      );
    }
    return this.run(
      table,
      "transaction",
      async (c) => {
        const actions: TransactionAction[] = ops.map((o) => {
          const entity = { partitionKey: pk, rowKey: o.rk, ...(o.op === "delete" ? {} : o.fields) };
          switch (o.op) {
            case "insert":
              return ["create", entity];
            case "upsert":
              return ["upsert", entity, "Replace"];
            case "replace":
              return ["update", entity, "Replace", { etag: o.etag }];
            case "delete":
              return ["delete", entity];
          }
        });
        const response = await c.submitTransaction(actions);
        const etags = new Map<string, string>();
        for (const sub of response.subResponses) {
          if (sub.etag && sub.rowKey) etags.set(sub.rowKey, sub.etag);
        }
        return etags;
      },
      rows,
    );
  }

  async delete(table: string, pk: string, rk: string, etag?: string): Promise<void> {
    checkKeys(table, pk, rk);
    return this.run(table, "delete", async (c) => {
      try {
        await c.deleteEntity(pk, rk, etag ? { etag } : {});
      } catch (e) {
        if (e instanceof RestError && e.statusCode === 404) return;
        throw e;
      }
    });
  }

  ping(): Promise<void> {
    return this.run("health", "ping", async (c) => {
      await c
        .listEntities({ queryOptions: { filter: odata`PartitionKey eq ${"ping"}` } })
        .byPage({ maxPageSize: 1 })
        .next();
    });
  }
}

/** The SDK's token: base64 of `{nextPartitionKey, nextRowKey?}`, read byte by byte as the SDK reads it. */
const continuationSchema = z.object({
  nextPartitionKey: z.string().min(1).max(1024),
  nextRowKey: z.string().max(1024).optional(),
});
function decodeContinuation(token: string): unknown {
  try {
    return JSON.parse(Buffer.from(token, "base64").toString("latin1"));
  } catch {
    return undefined;
  }
}

function quote(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** The row-key part of a filter, `" and (…)"`, or nothing when one of the ranges is every row. */
function rowKeyFilter(ranges: readonly RowKeyRange[]): string {
  if (ranges.some((r) => "all" in r)) return "";
  return ` and (${ranges.map((r) => ("all" in r ? "" : rangeFilter(r))).join(" or ")})`;
}

function rangeFilter(r: Exclude<RowKeyRange, { all: true }>): string {
  if ("from" in r) return `(RowKey ge ${quote(r.from)} and RowKey lt ${quote(r.to)})`;
  return "eq" in r
    ? `RowKey eq ${quote(r.eq)}`
    : `(RowKey ge ${quote(r.prefix)} and RowKey lt ${quote(prefixEnd(r.prefix))})`;
}

function toRow(e: TableEntityResult<Record<string, unknown>>): Row {
  const fields: Row["fields"] = {};
  for (const [k, v] of Object.entries(e)) {
    if (systemProperties.has(k)) continue;
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") fields[k] = v;
  }
  return { pk: e.partitionKey ?? "", rk: e.rowKey ?? "", etag: e.etag, fields };
}

/**
 * The codes Azure Tables answers a write that breaks a documented limit with. `checkTransaction`
 * refuses such writes before they are sent; should the service count a size differently, its
 * refusal is the same error. (InvalidInput, which also names a bad key or a 101st operation, names
 * many other things too, so it stays a plain refusal.)
 */
const limitOfCode: Partial<Record<string, StorageLimit>> = {
  PropertyValueTooLarge: "propertyValue",
  EntityTooLarge: "entitySize",
  TooManyProperties: "propertyCount",
  PropertyNameTooLong: "propertyName",
  KeyValueTooLarge: "keyLength",
  InvalidDuplicateRow: "transactionDuplicateRow",
  RequestBodyTooLarge: "transactionSize",
};

/** The service's error code: in the error body for a batch, in the `x-ms-error-code` header otherwise. */
function errorCode(e: RestError): string | undefined {
  const header = (e.details as { errorCode?: unknown } | undefined)?.errorCode;
  return e.code ?? (typeof header === "string" ? header : undefined);
}

/** Storage errors become domain errors: 409/412/404-on-update are concurrency, the rest is unavailability. */
function translate(e: unknown, what: string, table: string, rows?: { pk: string; rks: readonly string[] }): Error {
  if (e instanceof ConcurrencyError || e instanceof StorageLimitError) return e;
  if (e instanceof RestError) {
    const code = errorCode(e);
    const limit = code === undefined ? undefined : limitOfCode[code];
    if (limit && rows) {
      // A batch's error message starts with the index of the operation that failed ("0:…").
      const index = /^(\d+):/.exec(e.message)?.[1];
      const rk = index !== undefined ? rows.rks[Number(index)] : rows.rks.length === 1 ? rows.rks[0] : undefined;
      return new StorageLimitError(limit, table, { pk: rows.pk, rk }, `refused by storage (${e.statusCode} ${code})`, {
        cause: e,
      });
    }
    if (e.statusCode === 409 || e.statusCode === 412 || e.statusCode === 404) {
      return new ConcurrencyError(`${what}: ${e.code ?? e.statusCode}`, { cause: e });
    }
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
      return new Error(`${what} was refused by storage (${e.statusCode} ${code ?? ""})`, { cause: e });
    }
  }
  return unavailable(`storage is unavailable (${what})`, e);
}
