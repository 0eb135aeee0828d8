/**
 * Reads: the access check (in process and through HTTP on the local host), a principal's listing,
 * and the local host's own HTTP overhead, each against the raw request it stands on.
 */
import type { TableClient } from "@azure/data-tables";
import { keys } from "../../shared/store/keys.js";
import { check } from "../../shared/usecases/access.js";
import type { Capabilities } from "../../shared/usecases/capabilities.js";
import { principalResources } from "../../shared/usecases/resources.js";
import { config, elapsed, log } from "./config.js";
import type { RequestMeter } from "./meter.js";
import { addRow, countRequests, type HostOverhead } from "./report.js";
import { firstPageLength, get200, q, type BenchHost } from "./setup.js";
import { interleave, summarize } from "./stats.js";
import { as, type SmallWorld } from "./world.js";

export async function measureReads(
  world: SmallWorld,
  timed: Capabilities,
  counted: Capabilities,
  meter: RequestMeter,
  resources: TableClient,
  principals: TableClient,
  directory: TableClient,
  { host, token: signToken, trivialUrl, bareUrl }: BenchHost,
): Promise<HostOverhead> {
  const { envId, reader, checkResource } = world;
  const item = { principalId: reader, resourceId: checkResource, action: "processMining.viewAnalytics" };
  const token = await signToken(reader);
  const checkBody = JSON.stringify({ checks: [item] });

  // What is measured does what it should, once, before timing it.
  const inProcess = await check(timed, as(reader), envId, [item]);
  if (!inProcess[0]?.allowed) throw new Error(`the benchmark's check is refused: ${JSON.stringify(inProcess)}`);
  const httpCheck = async () => {
    const r = await fetch(`${host.url}/api/environments/${envId}/check`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: checkBody,
    });
    const body = (await r.json()) as { results?: { allowed: boolean }[] };
    if (r.status !== 200 || !body.results?.[0]?.allowed)
      throw new Error(`HTTP check answered ${r.status}: ${JSON.stringify(body)}`);
  };
  await httpCheck();
  const listed = await principalResources(timed, as(reader), envId, reader, undefined, undefined);
  if (listed.resources.length !== world.resources.length)
    throw new Error(`listing found ${listed.resources.length} resources, expected ${world.resources.length}`);

  const metaPk = keys.resourcePk(envId, checkResource);
  const readerPk = keys.principalPk({ type: "user", id: reader });
  const metaSize = JSON.stringify(await resources.getEntity(metaPk, keys.metaRk)).length;
  // The same filter the repository sends for a principal's index page.
  const indexPrefix = keys.indexPrefix(envId);
  const end = indexPrefix.slice(0, -1) + String.fromCharCode(indexPrefix.charCodeAt(indexPrefix.length - 1) + 1);
  const listFilter = `PartitionKey eq ${q(readerPk)} and (RowKey eq ${q(keys.memberRk(envId))} or (RowKey ge ${q(indexPrefix)} and RowKey lt ${q(end)}))`;
  const listRows = await firstPageLength(principals, listFilter);
  const rawQuery = async () => {
    const page = await firstPageLength(principals, listFilter);
    if (page !== listRows) throw new Error(`raw partition query returned ${page} rows, not ${listRows}`);
  };
  // The check's own four requests, raw, sent together: the resource partition (meta, the reader's
  // grants, the groups' and lists' grants), the reader's profile, membership, and groups (one range
  // of the reader's membership bucket).
  const range = (prefix: string) => `(RowKey ge ${q(prefix)} and RowKey lt ${q(prefix.slice(0, -1) + "}")})`;
  const resourceFilter = `PartitionKey eq ${q(metaPk)} and (RowKey eq 'meta' or (RowKey ge ${q(keys.groupAndListGrants.from)} and RowKey lt ${q(keys.groupAndListGrants.to)}) or ${range(keys.grantsOfPrefix({ type: "user", id: reader }))})`;
  const groupsFilter = `PartitionKey eq ${q(keys.memberBucketPk(envId, reader))} and ${range(keys.userGroupPrefix(reader))}`;
  const rawPair = () =>
    Promise.all([
      firstPageLength(resources, resourceFilter),
      principals.getEntity(readerPk, keys.profileRk),
      directory.getEntity(keys.directoryPk(envId), keys.envMemberRk(reader)),
      firstPageLength(directory, groupsFilter),
    ]);
  const pairRows = await rawPair();
  if (pairRows[0] < 2) throw new Error(`the raw resource query returned ${pairRows[0]} rows`);
  // The floor of an HTTP call on loopback: an unknown route, answered 404 by the host without running a function.
  const http404 = async () => {
    const r = await fetch(`${host.url}/api/no-such-route`);
    await r.arrayBuffer();
  };
  // The host's own cost: a function that does nothing, against a bare node:http server answering
  // the same body to the same client (this replaces a 2 ms assertion in test/host/http.test.ts).
  if ((await get200(bareUrl)) !== (await get200(trivialUrl))) throw new Error("the bare server answers another body");

  log(
    `[${elapsed()}] reads: ${config.iterations} rounds of point read, check, HTTP check, partition query, listing, HTTP floor and overhead…`,
  );
  const s = await interleave(
    [
      { name: "point", run: () => resources.getEntity(metaPk, keys.metaRk) },
      { name: "check", run: () => check(timed, as(reader), envId, [item]) },
      { name: "http", run: httpCheck },
      { name: "query", run: rawQuery },
      { name: "list", run: () => principalResources(timed, as(reader), envId, reader, undefined, undefined) },
      { name: "pair", run: rawPair },
      { name: "http404", run: http404 },
      { name: "trivial", run: () => get200(trivialUrl) },
      { name: "bare", run: () => get200(bareUrl) },
    ],
    { warmup: config.warmup, iterations: config.iterations },
  );
  const get = (k: string) => summarize(s.get(k) ?? []);
  addRow(
    "access check (check, 1 item, self)",
    get("check"),
    { name: `point read, ${metaSize} B row`, s: get("point") },
    1.3,
  );
  addRow(
    "  … the same check ÷ its own four requests, raw, sent together",
    get("check"),
    { name: "4 raw requests together", s: get("pair") },
    undefined,
    "the service's own overhead over its requests",
  );
  addRow(
    "list a principal's resources (24 resources, 49 rows)",
    get("list"),
    { name: "partition query, same filter", s: get("query") },
    1.3,
  );
  addRow(
    "access check through HTTP on the local host",
    get("http"),
    { name: "in-process check", s: get("check") },
    undefined,
    "no target in the issue",
  );
  addRow(
    "  HTTP floor: unknown route, 404 from the host",
    get("http404"),
    undefined,
    undefined,
    "fetch + loopback + host routing, no function",
  );
  addRow(
    "  HTTP overhead: a trivial function on the local host",
    get("trivial"),
    { name: "bare node:http, same body", s: get("bare") },
    undefined,
    "the local host's own cost per request",
  );

  await countRequests(meter, "access check (check, 1 item, self)", 5, () => check(counted, as(reader), envId, [item]));
  await countRequests(meter, "list a principal's resources", 5, () =>
    principalResources(counted, as(reader), envId, reader, undefined, undefined),
  );
  return { hostMedianMs: get("trivial").median, bareMedianMs: get("bare").median };
}
