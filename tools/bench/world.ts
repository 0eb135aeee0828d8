/**
 * The data the per-operation benchmarks run on, written through the use cases (so every row, index
 * row and outbox step is exactly what the service writes), and the 100,000-grant environment of the
 * audit benchmark, written straight into its own tables with 100-operation transactions.
 */
import { factsOf } from "../../shared/model/memberFacts.js";
import type { Grant, Resource, TenantUser } from "../../shared/model/records.js";
import type { RowStore, WriteOp } from "../../shared/ports/rows.js";
import type { ResourceKind, Role } from "../../shared/rules/matrix.js";
import { bucketOf, keys, type TableNames } from "../../shared/store/keys.js";
import type { Caller, Capabilities } from "../../shared/usecases/capabilities.js";
import { putEnvironment, putGroup, putMembership, putUser } from "../../shared/usecases/directory.js";
import { putResource } from "../../shared/usecases/resources.js";
import { share } from "../../shared/usecases/sharing.js";

export const appAdmin: Caller = { principalId: "bench-admin", appRoles: ["Sharing.Admin"] };
export const as = (id: string): Caller => ({ principalId: id, appRoles: [] });

export const userId = (n: number) => `u${n.toString().padStart(4, "0")}`;

/** Per kind: the role shared with users in the small world, and the role given to the group. */
const kindRoles: Record<ResourceKind, { user: Role; group: Role }> = {
  processMining: { user: "viewer", group: "coOwner" },
  taskMining: { user: "contributor", group: "coOwner" },
  cloudFlow: { user: "runOnly", group: "owner" },
};

export interface SmallWorld {
  envId: string;
  owner: string;
  /** Holds a direct grant on every resource and a grant through group g1 on every resource. */
  reader: string;
  /** The resource the checks ask about (its partition: meta and 8 grants: owner, 6 users, g1). */
  checkResource: string;
  /** The resource shares and revokes go to: same shape as checkResource. */
  shareResource: string;
  /** Users in the directory and the environment with nothing shared: the principals shares go to. */
  shareTargets: string[];
  resources: { id: string; kind: ResourceKind }[];
}

/**
 * 80 users, two groups, 24 resources (8 of each kind) created by u0000, each shared with u0001..u0006
 * and with group g1 (u0001..u0010). So u0001 holds 48 index rows (24 direct, 24 through g1).
 */
export async function seedSmallWorld(caps: Capabilities, envId: string): Promise<SmallWorld> {
  await putEnvironment(caps, appAdmin, {
    envId,
    displayName: "Bench environment",
    isDefault: false,
    sensitive: false,
    expectedOwnerGroupIds: [],
    sovereignCloud: false,
  });
  const users = Array.from({ length: 80 }, (_, n) => userId(n));
  await forEachLimit(users, 8, async (id) => {
    await putUser(caps, appAdmin, {
      userId: id,
      email: `${id}@contoso.example`,
      displayName: `Bench user ${id}`,
      userType: "member",
      enabled: true,
      license: "paid",
    });
    await putMembership(caps, appAdmin, { envId, userId: id, securityRoles: ["EnvironmentMaker"] });
  });
  await putGroup(caps, appAdmin, {
    envId,
    groupId: "g1",
    displayName: "Group one",
    kind: "securityGroup",
    memberIds: users.slice(1, 11),
  });
  await putGroup(caps, appAdmin, {
    envId,
    groupId: "g2",
    displayName: "Group two",
    kind: "securityGroup",
    memberIds: users.slice(5, 21),
  });
  const owner = users[0]!;
  const resources: { id: string; kind: ResourceKind }[] = [];
  for (const kind of ["processMining", "taskMining", "cloudFlow"] as const) {
    for (let i = 0; i < 8; i++) resources.push({ id: `${kind}-${i}`, kind });
  }
  await forEachLimit(resources, 4, async (r) => {
    await putResource(
      caps,
      as(owner),
      envId,
      r.id,
      {
        kind: r.kind,
        displayName: `Bench ${r.kind} ${r.id}`,
        creatorId: owner,
        ...(r.kind === "cloudFlow" ? { triggerKind: "instant" as const } : {}),
      },
      undefined,
    );
    await share(caps, as(owner), envId, r.id, {
      role: kindRoles[r.kind].user,
      principals: users.slice(1, 7).map((id) => ({ type: "user" as const, id })),
      sendInvitation: false,
    });
    await share(caps, as(owner), envId, r.id, {
      role: kindRoles[r.kind].group,
      principals: [{ type: "group", id: "g1" }],
      sendInvitation: false,
    });
  });
  return {
    envId,
    owner,
    reader: users[1]!,
    checkResource: "processMining-0",
    shareResource: "processMining-1",
    shareTargets: users.slice(40),
    resources,
  };
}

export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  f: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await f(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// The audit's environment

export interface AuditWorldOptions {
  grants: number;
  grantsPerResource: number;
  users: number;
  /** Parallel transactions while seeding. */
  concurrency: number;
}

export interface AuditWorld {
  envId: string;
  resources: number;
  grants: number;
  users: number;
  disabledUsers: number;
  groups: number;
  rowsInResourcesTable: number;
  /** The rows of the environment's directory partition an audit reads: member rows and `ug|` rows. */
  directoryRowsRead: number;
  seedMs: number;
}

const json = (value: unknown) => ({ json: JSON.stringify(value) });

/**
 * Writes an environment with `grants` grants spread over resources of `grantsPerResource` grants
 * each (one owner, the rest the kind's other roles), its catalog, `users` users (1 in 100 disabled,
 * 1 in 50 a guest) who are its members, and 20 groups with every user in one, in the storage layout
 * the service uses, as 100-operation transactions sent `concurrency` at a time. The directory
 * partition holds the member rows with their facts and the `ug|{userId}|{groupId}` rows.
 */
export async function seedAuditWorld(
  store: RowStore,
  tables: TableNames,
  envId: string,
  o: AuditWorldOptions,
): Promise<AuditWorld> {
  const started = performance.now();
  const at = new Date("2025-01-01T00:00:00Z").toISOString();
  const resourceCount = Math.ceil(o.grants / o.grantsPerResource);
  const kinds: ResourceKind[] = ["processMining", "taskMining", "cloudFlow"];
  const otherRoles: Record<ResourceKind, Role[]> = {
    processMining: ["coOwner", "viewer", "viewer"],
    taskMining: ["coOwner", "contributor", "contributor"],
    cloudFlow: ["runOnly", "runOnly", "owner"],
  };
  const auditUser = (n: number) => `a${n.toString().padStart(6, "0")}`;
  let disabledUsers = 0;

  await store.transact(tables.environments, keys.environmentPk, [
    {
      op: "upsert",
      rk: envId,
      fields: json({
        envId,
        displayName: "Audit bench environment",
        isDefault: false,
        sensitive: false,
        expectedOwnerGroupIds: [],
        sovereignCloud: false,
      }),
    },
  ]);

  // Users: profile and membership, one transaction per user partition; and in the environment's
  // directory partition, the member rows (membership and facts), groups and `ug|` rows.
  const groupCount = 20;
  const groupId = (g: number) => `g${g.toString().padStart(2, "0")}`;
  const directoryOps: WriteOp[] = [];
  const bucketOps = new Map<string, WriteOp[]>();
  const userJobs: WriteOp[][] = [];
  const userPks: string[] = [];
  for (let n = 0; n < o.users; n++) {
    const id = auditUser(n);
    const enabled = n % 100 !== 99;
    if (!enabled) disabledUsers++;
    const user: TenantUser = {
      userId: id,
      email: `${id}@contoso.example`,
      displayName: `Audit user ${id}`,
      userType: n % 50 === 49 ? "guest" : "member",
      enabled,
      license: "paid",
    };
    const membership = { envId, userId: id, securityRoles: ["EnvironmentMaker"], addedBy: "admin" };
    userPks.push(keys.principalPk({ type: "user", id }));
    userJobs.push([
      { op: "upsert", rk: keys.profileRk, fields: json(user) },
      { op: "upsert", rk: keys.memberRk(envId), fields: json(membership) },
    ]);
    directoryOps.push({
      op: "upsert",
      rk: keys.envMemberRk(id),
      fields: json({ ...membership, facts: factsOf(user) }),
    });
    // The member's two group rows, in the partition of the user's membership bucket.
    const g = groupId(n % groupCount);
    const bucketPk = keys.memberBucketPk(envId, id);
    bucketOps.set(bucketPk, [
      ...(bucketOps.get(bucketPk) ?? []),
      { op: "upsert", rk: keys.userGroupRk(id, g), fields: json({ type: "group", id: g }) },
      { op: "upsert", rk: keys.groupMemberRk(g, id), fields: json({ userId: id }) },
    ]);
  }
  for (let g = 0; g < groupCount; g++) {
    const buckets = [
      ...new Set(
        Array.from({ length: o.users }, (_, n) => n)
          .filter((n) => n % groupCount === g)
          .map((n) => bucketOf(auditUser(n))),
      ),
    ].sort();
    directoryOps.push({
      op: "upsert",
      rk: keys.groupRk(groupId(g)),
      fields: json({ envId, groupId: groupId(g), displayName: `Group ${g}`, kind: "securityGroup", buckets }),
    });
  }
  await forEachLimit(userJobs, o.concurrency, (ops, i) =>
    store.transact(tables.principals, userPks[i]!, ops).then(() => undefined),
  );

  // Resources: meta plus grants in the resource's partition (100 operations a transaction), catalog rows in Directory.
  const catalog: WriteOp[] = [];
  const jobs: { table: string; pk: string; ops: WriteOp[] }[] = [];
  let grantsLeft = o.grants;
  for (let r = 0; r < resourceCount; r++) {
    const kind = kinds[r % kinds.length]!;
    const resourceId = `res-${r.toString().padStart(6, "0")}`;
    const ownerN = (r * 7) % o.users;
    const resource: Resource = {
      envId,
      resourceId,
      kind,
      displayName: `Audited ${kind} ${r}`,
      creatorId: auditUser(ownerN),
      ownerId: auditUser(ownerN),
      ...(kind === "cloudFlow" ? { triggerKind: "instant" as const } : {}),
      createdAt: at,
      updatedAt: at,
    };
    const pk = keys.resourcePk(envId, resourceId);
    const count = Math.min(o.grantsPerResource, grantsLeft);
    grantsLeft -= count;
    const rows: WriteOp[] = [{ op: "upsert", rk: keys.metaRk, fields: json(resource) }];
    for (let g = 0; g < count; g++) {
      // Distinct principals within a resource: the owner, then a stride through the users.
      const n = g === 0 ? ownerN : (ownerN + g * 13) % o.users;
      const role: Role = g === 0 ? "owner" : otherRoles[kind][g % 3]!;
      const grant: Grant = {
        principalType: "user",
        principalId: auditUser(n),
        role,
        grantedBy: auditUser(ownerN),
        grantedAt: at,
      };
      rows.push({ op: "upsert", rk: keys.grantRk({ type: "user", id: grant.principalId }, role), fields: json(grant) });
    }
    for (let i = 0; i < rows.length; i += 100) jobs.push({ table: tables.resources, pk, ops: rows.slice(i, i + 100) });
    catalog.push({ op: "upsert", rk: keys.catalogRk(resourceId), fields: json(resource) });
  }
  for (const ops of [catalog, directoryOps])
    for (let i = 0; i < ops.length; i += 100)
      jobs.push({ table: tables.directory, pk: keys.directoryPk(envId), ops: ops.slice(i, i + 100) });
  for (const [pk, ops] of bucketOps)
    for (let i = 0; i < ops.length; i += 100) jobs.push({ table: tables.directory, pk, ops: ops.slice(i, i + 100) });
  await forEachLimit(jobs, o.concurrency, (j) => store.transact(j.table, j.pk, j.ops).then(() => undefined));

  return {
    envId,
    resources: resourceCount,
    grants: o.grants,
    users: o.users,
    disabledUsers,
    groups: groupCount,
    rowsInResourcesTable: o.grants + resourceCount,
    directoryRowsRead: 2 * o.users,
    seedMs: performance.now() - started,
  };
}
