/**
 * Scale: what a big principal costs a user, through HTTP on the local host running the whole app
 * (every compiled function, queue triggers included). Each figure is the median of an operation on
 * the big case over the median of the same operation on a small case, the two interleaved sample by
 * sample in this run: a check on a resource holding `members` grants and on one holding 3; a share
 * with a group of `members` and with a group of 3, each on a fresh resource, and how soon the big
 * group's members see it in their listings; one member added to either group; the listing of a user
 * in `groups` groups and of a user with one direct grant. Beside them, the round trips each took on
 * its answer's path (see AnswerPathMeter in meter.ts), and each read against its own storage
 * requests replayed raw (replay.ts).
 */
import { z } from "zod";
import type { Azurite } from "../azurite.js";
import { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import { tableNames } from "../../shared/store/keys.js";
import type { Capabilities } from "../../shared/usecases/capabilities.js";
import { principalResources, putResource } from "../../shared/usecases/resources.js";
import { check } from "../../shared/usecases/access.js";
import { config, elapsed, log } from "./config.js";
import { AnswerPathMeter, formatCounts, type PathCount } from "./meter.js";
import { addScaleFigure, addRoundTrips, scaleNotes } from "./report.js";
import { rawReplay, type RawReplay } from "./replay.js";
import { capabilities, startAppHost, type AppHost } from "./setup.js";
import { handleFanout } from "../../shared/usecases/fanout.js";
import { ms, interleave, summarize } from "./stats.js";
import { as } from "./world.js";
import { seedScaleWorld, type ScaleWorld } from "./scaleWorld.js";

const role = "viewer";

/** What one HTTP call answered, and the storage requests on its answer's path. */
interface Answer {
  status: number;
  body: unknown;
  count: PathCount;
}

const listingSchema = z
  .object({
    // `resources` in version 1; version 2 pages every list as `items`: either is read.
    resources: z.array(z.object({ resourceId: z.string() }).loose()).optional(),
    items: z.array(z.object({ resourceId: z.string() }).loose()).optional(),
    continuationToken: z.string().optional(),
  })
  .loose();
const checkAnswerSchema = z.object({ results: z.array(z.object({ allowed: z.boolean() }).loose()) }).loose();

export async function measureScale(azurite: Azurite): Promise<void> {
  const o = config.scale;
  // Seeding only: putGroup reads every member's profile at once, and on a 2-core machine 5,000 reads
  // at once outlasted the adapter's default 5 s request timeout ("storage is unavailable").
  const timed = capabilities(
    new AzureRowStore({ connectionString: azurite.connectionString, requestTimeoutMs: 300_000 }),
    tableNames(config.prefix),
    azurite.connectionString,
  );
  log(
    `[${elapsed()}] scale: seeding ${o.members} members, a group of them, ${o.groups} groups × ${o.groupResources} resources…`,
  );
  // Seeding's group fan-out runs inline (no host runs yet), so the world starts converged.
  timed.fanoutQueue = { send: (m) => handleFanout(timed, m).then(() => undefined) };
  const w = await seedScaleWorld(timed, "benchscale", {
    members: o.members,
    groupCount: o.groups,
    resourcesPerGroup: o.groupResources,
  });
  const meter = new AnswerPathMeter(`127.0.0.1:${azurite.queuePort}`);
  let app: AppHost | undefined;
  try {
    app = await startAppHost(azurite.connectionString, meter);
    log(`[${elapsed()}] scale: the whole app on the local host at ${app.host.url}`);
    await measureOn(app, meter, w, timed, azurite.connectionString);
  } finally {
    await app?.close();
    meter.close();
  }
}

async function measureOn(
  app: AppHost,
  meter: AnswerPathMeter,
  w: ScaleWorld,
  timed: Capabilities,
  azuriteConnectionString: string,
): Promise<void> {
  const o = config.scale;
  const env = `/api/environments/${w.envId}`;
  const tokens = new Map<string, Promise<string>>();
  const tokenOf = (sub: string) => {
    let t = tokens.get(sub);
    if (!t) tokens.set(sub, (t = app.token(sub)));
    return t;
  };
  const adminToken = await app.token("bench-scale-admin", ["Sharing.Admin"]);

  // While set, calls trace their requests, and the last call's count is kept (for the raw replays).
  let tracing = false;
  let lastCount: PathCount | undefined;
  const send = async (method: string, path: string, token: string, body?: unknown): Promise<Answer> => {
    const { value, count } = await meter.measure(
      async (headers) => {
        const r = await fetch(`${app.host.url}${path}`, {
          method,
          headers: {
            ...headers,
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await r.text();
        return { status: r.status, body: text ? (JSON.parse(text) as unknown) : undefined };
      },
      { trace: tracing },
    );
    lastCount = count;
    return { ...value, count };
  };
  const counts = new Map<string, PathCount[]>();
  /** Sends, fails unless the status is one of `ok`, and keeps the count of measured samples (i ≥ 0). */
  const expect = async (name: string, i: number, ok: number[], call: Promise<Answer>): Promise<Answer> => {
    const a = await call;
    if (!ok.includes(a.status)) throw new Error(`${name} answered ${a.status}: ${JSON.stringify(a.body)}`);
    if (i >= 0) (counts.get(name) ?? counts.set(name, []).get(name)!).push(a.count);
    return a;
  };
  const settle = async () => {
    if (!(await meter.idle(o.quietMs, o.indexTimeoutMs)))
      scaleNotes.push(`storage never went quiet for ${o.quietMs} ms within ${o.indexTimeoutMs} ms between samples`);
  };

  /** The resource ids in a principal's listing, every page. */
  const listing = async (principalId: string, token: string, name?: string, i = -1): Promise<string[]> => {
    const ids: string[] = [];
    let continuation: string | undefined;
    for (let page = 0; page < 100; page++) {
      const query = `?kind=processMining${continuation ? `&continuationToken=${encodeURIComponent(continuation)}` : ""}`;
      const path = `${env}/principals/${principalId}/resources${query}`;
      const a = name ? await expect(name, i, [200], send("GET", path, token)) : await send("GET", path, token);
      if (a.status !== 200)
        throw new Error(`listing of ${principalId} answered ${a.status}: ${JSON.stringify(a.body)}`);
      const body = listingSchema.parse(a.body);
      ids.push(...(body.resources ?? body.items ?? []).map((r) => r.resourceId));
      continuation = body.continuationToken;
      if (!continuation) return ids;
    }
    throw new Error(`the listing of ${principalId} has more than 100 pages`);
  };

  // 1. Checks.
  const checkOp = (name: string, resourceId: string) => async (i: number) => {
    const a = await expect(
      name,
      i,
      [200],
      send("POST", `${env}/check`, await tokenOf(w.checker), {
        checks: [{ principalId: w.checker, resourceId, action: "processMining.viewAnalytics" }],
      }),
    );
    if (!checkAnswerSchema.parse(a.body).results[0]?.allowed) throw new Error(`${name} was refused`);
  };
  // 4. Listings.
  const groupedExpected = o.groups * o.groupResources;
  const listOp = (name: string, principalId: string, expected: number) => async (i: number) => {
    const ids = await listing(principalId, await tokenOf(principalId), name, i);
    if (ids.length !== expected) throw new Error(`${name} listed ${ids.length} resources, expected ${expected}`);
  };
  const readOps = [
    { name: "checkMany", run: checkOp("checkMany", w.manyGrants) },
    { name: "checkFew", run: checkOp("checkFew", w.fewGrants) },
    { name: "listGrouped", run: listOp("listGrouped", w.grouped, groupedExpected) },
    { name: "listDirect", run: listOp("listDirect", w.direct, 1) },
  ];
  await settle();
  // 6. Each read's own storage requests, traced once and replayed raw in the same round trips.
  const replays = new Map<string, RawReplay>();
  for (const op of readOps) {
    tracing = true;
    try {
      await op.run(-1);
    } finally {
      tracing = false;
    }
    replays.set(op.name, rawReplay(lastCount?.trace ?? [], azuriteConnectionString));
  }
  log(
    `[${elapsed()}] scale: ${o.iterations} rounds of check (${o.members} and 3 grants) and listing, and their requests raw…`,
  );
  // The same reads in this process, through the use cases: what figure 6 compares with the raw
  // requests (through HTTP the host's own cost would count too, and the raw side has none).
  const inProcess: Record<string, () => Promise<unknown>> = {
    checkMany: () =>
      check(timed, as(w.checker), w.envId, [
        { principalId: w.checker, resourceId: w.manyGrants, action: "processMining.viewAnalytics" },
      ]),
    checkFew: () =>
      check(timed, as(w.checker), w.envId, [
        { principalId: w.checker, resourceId: w.fewGrants, action: "processMining.viewAnalytics" },
      ]),
    listGrouped: () => principalResources(timed, as(w.grouped), w.envId, w.grouped, undefined, undefined),
    listDirect: () => principalResources(timed, as(w.direct), w.envId, w.direct, undefined, undefined),
  };
  const reads = await interleave(
    [
      ...readOps,
      ...[...replays].map(([name, r]) => ({ name: `${name}:raw`, run: r.run })),
      ...Object.entries(inProcess).map(([name, run]) => ({ name: `${name}:in`, run })),
    ],
    { warmup: config.warmup, iterations: o.iterations },
  );
  const get = (s: Map<string, number[]>, k: string) => summarize(s.get(k) ?? []);
  addScaleFigure(
    `1. check, 1 item: resource with ${o.members} grants ÷ with 3`,
    get(reads, "checkMany"),
    get(reads, "checkFew"),
    1.2,
  );

  // 2. Shares with a group, each on a fresh resource made beforehand (untimed).
  const shareRounds = o.shareSamples + 1;
  const fresh = (side: string, i: number) => `scale-share-${side}-${i < 0 ? `w${-i}` : i}`;
  for (let i = -1; i < shareRounds - 1; i++) {
    for (const side of ["big", "small"]) {
      await putResource(
        timed,
        as(w.owner),
        w.envId,
        fresh(side, i),
        { kind: "processMining", displayName: `Scale ${fresh(side, i)}`, creatorId: w.owner },
        undefined,
      );
    }
  }
  const shareWithGroup = (name: string, side: string, groupId: string) => async (i: number) => {
    await expect(
      name,
      i,
      [201],
      send("POST", `${env}/resources/${fresh(side, i)}/shares`, await tokenOf(w.owner), {
        role,
        principals: [{ type: "group", id: groupId }],
        sendInvitation: false,
      }),
    );
  };
  // The last member, then nine more spread over the group, polled until each lists the resource.
  const watched = [
    ...new Set([
      w.members.length - 1,
      ...Array.from({ length: 9 }, (_, k) => Math.round((k * (w.members.length - 1)) / 9)),
    ]),
  ].map((n) => w.members[n]!);
  const indexing: { afterAnswer: number; fromSent: number; allWatched: number }[] = [];
  let bigSent = 0;
  let bigAnswered = 0;
  /** When the last member's listing showed the resource, and when all the watched ones had. */
  const waitForListings = async (resourceId: string): Promise<{ last: number; all: number } | undefined> => {
    const deadline = bigAnswered + o.indexTimeoutMs;
    let last: number | undefined;
    for (const member of watched) {
      while (!(await listing(member, await tokenOf(member))).includes(resourceId)) {
        if (performance.now() > deadline) return undefined;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      last ??= performance.now();
    }
    return { last: last!, all: performance.now() };
  };
  log(
    `[${elapsed()}] scale: ${o.shareSamples} rounds (+1 warm-up) of share with a group of ${o.members} and with one of 3, each on a fresh resource…`,
  );
  const shareBig = shareWithGroup("shareBig", "big", w.bigGroup);
  const shares = await interleave(
    [
      {
        name: "shareBig",
        run: async (i) => {
          bigSent = performance.now();
          await shareBig(i);
          bigAnswered = performance.now();
        },
        after: async (i) => {
          const seen = await waitForListings(fresh("big", i));
          if (seen === undefined)
            scaleNotes.push(
              `share ${fresh("big", i)}: not in every watched member's listing within ${o.indexTimeoutMs} ms`,
            );
          else if (i >= 0)
            indexing.push({
              afterAnswer: seen.last - bigAnswered,
              fromSent: seen.last - bigSent,
              allWatched: seen.all - bigAnswered,
            });
          await settle();
        },
      },
      { name: "shareSmall", run: shareWithGroup("shareSmall", "small", w.smallGroup), after: settle },
    ],
    { warmup: 1, iterations: o.shareSamples },
  );
  addScaleFigure(
    `2. share with a group (no invitation): ${o.members} members ÷ 3`,
    get(shares, "shareBig"),
    get(shares, "shareSmall"),
    1.5,
  );
  if (indexing.length > 0) {
    const fromSent = summarize(indexing.map((x) => x.fromSent));
    const afterAnswer = summarize(indexing.map((x) => x.afterAnswer));
    const allWatched = summarize(indexing.map((x) => x.allWatched));
    const rate = o.members / (fromSent.median / 1000);
    addScaleFigure(
      `   members indexed per second (${o.members} ÷ time from the share sent until the last member lists it)`,
      fromSent,
      undefined,
      undefined,
      {
        value: `${Math.round(rate).toLocaleString("en")} /s`,
        target: "≥ 1,000 /s",
        met: rate >= 1000,
        note: `the last member lists it ${ms(afterAnswer.median)} ms after the answer (median, max ${ms(afterAnswer.max)}), ${ms(fromSent.median)} ms after the share was sent; ${watched.length - 1} more spread over the group all list it ${ms(allWatched.median)} ms after the answer (polled one after the other)`,
      },
    );
  } else {
    addScaleFigure(`   members indexed per second`, undefined, undefined, undefined, {
      value: "n/a",
      target: "≥ 1,000 /s",
      met: false,
      note: `no share's members all listed it within ${o.indexTimeoutMs} ms`,
    });
  }

  // Revokes of those grants: every small one, and one big one (the big one is slow while it rewrites every member's index).
  log(`[${elapsed()}] scale: revoking the shares…`);
  const revoke = (i: number, side: string, groupId: string) =>
    expect(
      side === "big" ? "revokeBig" : "revokeSmall",
      i,
      [200],
      send("DELETE", `${env}/resources/${fresh(side, i)}/shares/group/${groupId}/${role}`, ownerToken),
    );
  const ownerToken = await tokenOf(w.owner);
  const revokeTimes = { big: [] as number[], small: [] as number[] };
  for (let i = -1; i < o.shareSamples; i++) {
    let t0 = performance.now();
    await revoke(i, "small", w.smallGroup);
    if (i >= 0) revokeTimes.small.push(performance.now() - t0);
    await settle();
    if (i === 0) {
      t0 = performance.now();
      await revoke(i, "big", w.bigGroup);
      revokeTimes.big.push(performance.now() - t0);
      await settle();
    }
  }
  addScaleFigure(
    `   revoke of that share: ${o.members} members ÷ 3 (informational, 1 big sample)`,
    summarize(revokeTimes.big),
    summarize(revokeTimes.small),
    undefined,
  );

  // 3. One member added to a group, then removed again.
  const patchRoute = app.host.registrations.some(
    (r) => r.http?.methods.includes("PATCH") && /\/groups\/\{[^}]+\}\/members$/.test(r.http.path),
  );
  if (!patchRoute) {
    const probe = await send("PATCH", `${env}/groups/${w.smallGroup}/members`, adminToken, { add: [w.joiner] });
    addScaleFigure(`3. add one member to a group: ${o.members} members ÷ 3`, undefined, undefined, 2, {
      value: "n/a (no PATCH route)",
      target: "≤ 2",
      met: undefined,
      note: `no function serves PATCH .../groups/{groupId}/members here (a probe answered ${probe.status})`,
    });
  } else {
    const patch = (name: string, groupId: string, body: { add?: string[]; remove?: string[] }, i: number) =>
      expect(name, i, [200], send("PATCH", `${env}/groups/${groupId}/members`, adminToken, body));
    const removeTimes = new Map<string, number[]>([
      ["big", []],
      ["small", []],
    ]);
    const patchOp = (side: "big" | "small", groupId: string) => ({
      name: `add${side === "big" ? "Big" : "Small"}`,
      run: (i: number) => patch(`add ${side}`, groupId, { add: [w.joiner] }, i),
      after: async (i: number) => {
        await settle();
        const t0 = performance.now();
        await patch(`remove ${side}`, groupId, { remove: [w.joiner] }, i);
        if (i >= 0) removeTimes.get(side)!.push(performance.now() - t0);
        await settle();
      },
    });
    log(`[${elapsed()}] scale: ${o.patchSamples} rounds of PATCH members (add, then remove) on both groups…`);
    const patches = await interleave([patchOp("big", w.bigGroup), patchOp("small", w.smallGroup)], {
      warmup: 2,
      iterations: o.patchSamples,
    });
    addScaleFigure(
      `3. add one member to a group (PATCH members): ${o.members} members ÷ 3`,
      get(patches, "addBig"),
      get(patches, "addSmall"),
      2,
    );
    addScaleFigure(
      `   remove that member again: ${o.members} members ÷ 3 (informational)`,
      summarize(removeTimes.get("big")!),
      summarize(removeTimes.get("small")!),
      undefined,
    );
  }

  addScaleFigure(
    `4. listing: user in ${o.groups} groups (${groupedExpected} resources) ÷ user with one direct grant`,
    get(reads, "listGrouped"),
    get(reads, "listDirect"),
    1.3,
  );

  const readLabels: Record<string, string> = {
    checkMany: `check, resource with ${o.members} grants`,
    checkFew: "check, resource with 3 grants",
    listGrouped: `listing, user in ${o.groups} groups`,
    listDirect: "listing, user with one direct grant",
  };
  for (const [name, r] of replays) {
    addScaleFigure(
      `6. ${readLabels[name]}, in process ÷ its own ${plural(r.requests, "request")} in ${plural(r.roundTrips, "round trip")}, raw`,
      get(reads, `${name}:in`),
      get(reads, `${name}:raw`),
      1.15,
    );
    addScaleFigure(
      `   the same through HTTP ÷ those requests raw (informational: the host's own cost included)`,
      get(reads, name),
      get(reads, `${name}:raw`),
      undefined,
    );
  }

  // 5. Round trips on each answer's path, from the measured samples.
  const target: Record<string, number | undefined> = {
    checkMany: 1,
    checkFew: 1,
    listGrouped: 1,
    listDirect: 1,
    shareBig: 4,
    shareSmall: 4,
    revokeBig: 4,
    revokeSmall: 4,
  };
  const label: Record<string, string> = {
    ...readLabels,
    shareBig: `share with a group of ${o.members}`,
    shareSmall: "share with a group of 3",
    revokeBig: `revoke a group of ${o.members}'s grant`,
    revokeSmall: "revoke a group of 3's grant",
    "add big": `PATCH add a member, group of ${o.members}`,
    "add small": "PATCH add a member, group of 3",
    "remove big": `PATCH remove a member, group of ${o.members}`,
    "remove small": "PATCH remove a member, group of 3",
  };
  for (const [name, list] of counts) {
    const requests = new Map<string, number>();
    for (const c of list) for (const [k, v] of c.requests) requests.set(k, (requests.get(k) ?? 0) + v);
    addRoundTrips({
      operation: label[name] ?? name,
      n: list.length,
      roundTrips: summarize(list.map((c) => c.waves)),
      requests: summarize(list.map((c) => c.total)),
      target: target[name],
      breakdown: formatCounts(requests, list.length),
    });
  }
  scaleNotes.push(
    "Round trips count Tables requests (the adapter's onRequest/onResponse hooks) and queue requests (Node's http.client channels, to the queue endpoint) made for the call between sending it and receiving its response; work a queue trigger does beside it is not counted.",
  );
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
