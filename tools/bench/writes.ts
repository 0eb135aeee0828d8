/**
 * Writes: share (with the API's default invitation, and without) and revoke, against a raw
 * transaction and against the share's own requests sent raw.
 */
import type { TableClient, TableEntity, TransactionAction } from "@azure/data-tables";
import type { ResourceKind, Role } from "../../shared/rules/matrix.js";
import { keys } from "../../shared/store/keys.js";
import { sortableId, type Capabilities } from "../../shared/usecases/capabilities.js";
import { revoke, share } from "../../shared/usecases/sharing.js";
import { config, elapsed, log } from "./config.js";
import { formatCounts, type RequestMeter } from "./meter.js";
import { addRow, countRequests, requestCounts } from "./report.js";
import { commitProbe, firstPageLength, q } from "./setup.js";
import { summarize } from "./stats.js";
import { as, type SmallWorld } from "./world.js";

const roleFor: Record<ResourceKind, Role> = {
  processMining: "viewer",
  taskMining: "contributor",
  cloudFlow: "runOnly",
};

export async function measureWrites(
  world: SmallWorld,
  timed: Capabilities,
  counted: Capabilities,
  meter: RequestMeter,
  resources: TableClient,
  principals: TableClient,
  environments: TableClient,
  directory: TableClient,
): Promise<void> {
  const { envId, owner } = world;
  const targets = world.shareTargets;
  const shareResources = world.resources.filter((r) => r.id !== world.checkResource);
  const pick = (i: number, offset: number) => {
    const n = ((i % 100_000) + 100_000) % 100_000;
    const r = shareResources[(n + offset) % shareResources.length]!;
    const t = targets[Math.floor(n / shareResources.length) % targets.length]!;
    return { resource: r, target: t };
  };
  const rawPk = keys.resourcePk(envId, "raw-transaction");
  const grantLike = JSON.stringify({
    principalType: "user",
    principalId: "u0040",
    role: "viewer",
    grantedBy: owner,
    grantedAt: new Date().toISOString(),
  });
  const changeLike = JSON.stringify({
    changeId: sortableId(),
    at: new Date().toISOString(),
    actorId: owner,
    action: "grant",
    resourceId: "processMining-1",
    principal: { type: "user", id: "u0040" },
    role: "viewer",
    detail: "granted viewer on processMining Bench processMining processMining-1",
  });
  const rawTransaction = () =>
    resources.submitTransaction([
      ["upsert", { partitionKey: rawPk, rowKey: "grant|user|u0040|viewer", json: grantLike } as TableEntity, "Replace"],
      ["upsert", { partitionKey: rawPk, rowKey: "change|0000000000000|x", json: changeLike } as TableEntity, "Replace"],
    ] satisfies TransactionAction[]);

  // The share's own requests up to its commit, raw: the resource partition, the caller's and the
  // target's partitions and the environment row, together; then one 8-operation transaction of
  // rows the sizes of the share's (meta, grant, invitation, 2 change rows, 3 outbox rows).
  const metaJson = String(
    (await resources.getEntity<{ json: string }>(keys.resourcePk(envId, world.shareResource), keys.metaRk)).json,
  );
  const sizes = [metaJson.length, grantLike.length, 420, changeLike.length, changeLike.length, 300, 700, 420];
  const patternPk = keys.resourcePk(envId, "raw-share-pattern");
  const rawSharePattern = async (i: number) => {
    const { resource, target } = pick(i, 0);
    const range = (prefix: string) => `(RowKey ge ${q(prefix)} and RowKey lt ${q(prefix.slice(0, -1) + "}")})`;
    const groupsOf = (id: string) =>
      firstPageLength(
        directory,
        `PartitionKey eq ${q(keys.memberBucketPk(envId, id))} and ${range(keys.userGroupPrefix(id))}`,
      );
    const profile = (id: string) =>
      Promise.all([
        principals.getEntity(keys.principalPk({ type: "user", id }), keys.profileRk),
        directory.getEntity(keys.directoryPk(envId), keys.envMemberRk(id)),
      ]);
    await Promise.all([
      firstPageLength(
        resources,
        `PartitionKey eq ${q(keys.resourcePk(envId, resource.id))} and (RowKey eq 'meta' or (RowKey ge ${q(keys.groupAndListGrants.from)} and RowKey lt ${q(keys.groupAndListGrants.to)}) or ${range(keys.grantsOfPrefix({ type: "user", id: owner }))} or ${range(keys.grantsOfPrefix({ type: "user", id: target }))})`,
      ),
      profile(owner),
      groupsOf(owner),
      environments.getEntity(keys.environmentPk, envId),
      profile(target),
      groupsOf(target),
    ]);
    await resources.submitTransaction(
      sizes.map((n, k): TransactionAction => [
        "upsert",
        { partitionKey: patternPk, rowKey: `row${k}`, json: "x".repeat(n) } as TableEntity,
        "Replace",
      ]),
    );
  };

  const shareOp =
    (caps: Capabilities, sendInvitation: boolean, offset: number) => async (i: number, marks: Map<string, number>) => {
      const { resource, target } = pick(i, offset);
      commitProbe.onCommitted = () => marks.set("commit", performance.now());
      try {
        const r = await share(caps, as(owner), envId, resource.id, {
          role: roleFor[resource.kind],
          principals: [{ type: "user", id: target }],
          sendInvitation,
        });
        if (!r.created) throw new Error(`share ${resource.id} → ${target} created nothing`);
      } finally {
        commitProbe.onCommitted = undefined;
      }
    };
  const revokeOp = (caps: Capabilities, offset: number) => async (i: number) => {
    const { resource, target } = pick(i, offset);
    await revoke(caps, as(owner), envId, resource.id, { type: "user", id: target }, roleFor[resource.kind]);
  };
  // Shares with and without an invitation go to resources half the list apart, so they never meet.
  const half = Math.floor(shareResources.length / 2);
  log(
    `[${elapsed()}] writes: ${config.iterations} rounds of raw transaction, share (+ invitation), revoke, share (no invitation), revoke…`,
  );
  const s = await interleaveFixed(
    [
      { name: "tx", run: () => rawTransaction() },
      { name: "sharePattern", run: rawSharePattern },
      { name: "share", run: shareOp(timed, true, 0) },
      { name: "revoke", run: revokeOp(timed, 0) },
      { name: "shareNoInvite", run: shareOp(timed, false, half) },
      { name: "revokeNoInvite", run: revokeOp(timed, half) },
    ],
    config.warmup,
    config.iterations,
  );
  const get = (k: string) => summarize(s.get(k) ?? []);
  const tx = { name: "2-entity transaction", s: get("tx") };
  addRow("share to one principal, end to end (default: with invitation)", get("share"), tx, 1.5);
  addRow("  … of which up to the commit (reads, decide, 1 transaction)", get("share:commit"), tx, 1.5);
  addRow("share to one principal, end to end, sendInvitation: false", get("shareNoInvite"), tx, 1.5);
  addRow("  … of which up to the commit", get("shareNoInvite:commit"), tx, 1.5);
  addRow(
    "  … share up to the commit ÷ its own requests, raw",
    get("share:commit"),
    { name: "4 reads together, then 8-op transaction", s: get("sharePattern") },
    undefined,
    "the service's own overhead over its requests",
  );
  addRow("revoke one grant, end to end", get("revoke"), tx, undefined, "informational");

  // Request counts, with the relay's requests apart from the ones up to the commit (after one
  // unmetered share and revoke, so table and queue creation on first use is not counted).
  {
    const { resource, target } = pick(900, 0);
    await share(counted, as(owner), envId, resource.id, {
      role: roleFor[resource.kind],
      principals: [{ type: "user", id: target }],
      sendInvitation: true,
    });
    await revoke(counted, as(owner), envId, resource.id, { type: "user", id: target }, roleFor[resource.kind]);
  }
  for (const [label, sendInvitation, offset] of [
    ["share (with invitation)", true, 3],
    ["share (sendInvitation: false)", false, 3 + half],
  ] as const) {
    const runs = 5;
    meter.start();
    let before = 0;
    let upToCommit = 0;
    for (let i = 0; i < runs; i++) {
      const { resource, target } = pick(1000 + i * 7, offset);
      commitProbe.onCommitted = () => {
        upToCommit += meter.total - before;
        meter.setPhase("relay: ");
      };
      meter.setPhase("");
      before = meter.total;
      await share(counted, as(owner), envId, resource.id, {
        role: roleFor[resource.kind],
        principals: [{ type: "user", id: target }],
        sendInvitation,
      });
      commitProbe.onCommitted = undefined;
      await revoke(timed, as(owner), envId, resource.id, { type: "user", id: target }, roleFor[resource.kind]);
    }
    const counts = meter.stop();
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    requestCounts.push({
      operation: `${label}: up to the commit ${upToCommit / runs}, relay ${(total - upToCommit) / runs}`,
      requests: total / runs,
      breakdown: formatCounts(counts, runs),
    });
  }
  await countRequests(meter, "revoke", 5, async (i) => {
    const { resource, target } = pick(2000 + i * 7, 1);
    await share(timed, as(owner), envId, resource.id, {
      role: roleFor[resource.kind],
      principals: [{ type: "user", id: target }],
      sendInvitation: false,
    });
    meter.setPhase("");
    return revoke(counted, as(owner), envId, resource.id, { type: "user", id: target }, roleFor[resource.kind]);
  });
}

/** Like `interleave`, but in a fixed order each round (a share must come before its revoke). */
async function interleaveFixed(
  ops: { name: string; run: (i: number, marks: Map<string, number>) => Promise<unknown> }[],
  warmup: number,
  iterations: number,
) {
  // Rotating only the raw operation's place would still keep share before revoke; the raw
  // transaction alternates between first and last so it sees both neighbours.
  const samples = new Map<string, number[]>();
  const record = (k: string, v: number) => void (samples.get(k) ?? samples.set(k, []).get(k)!).push(v);
  for (let w = 0; w < warmup; w++) for (const op of ops) await op.run(-1 - w, new Map());
  for (let i = 0; i < iterations; i++) {
    const order = i % 2 === 0 ? ops : [...ops.slice(1), ops[0]!];
    for (const op of order) {
      const marks = new Map<string, number>();
      const t0 = performance.now();
      await op.run(i, marks);
      record(op.name, performance.now() - t0);
      for (const [m, at] of marks) record(`${op.name}:${m}`, at - t0);
    }
  }
  return samples;
}
