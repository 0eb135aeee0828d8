/**
 * The scale section's environment: `members` tenant users, a group of all of them and a group of 3,
 * a resource holding `members` direct grants and one holding 3, a user in `groupCount` groups that
 * each hold resources, and a user with one direct grant. Users and the many grants are written
 * straight into storage in the service's layout (thousands of use-case calls would take minutes);
 * groups, resources and every other grant go through the use cases, so they are stored as the
 * service stores them, whatever that layout becomes.
 */
import type { Grant, Membership, TenantUser } from "../../shared/model/records.js";
import type { WriteOp } from "../../shared/ports/rows.js";
import { keys } from "../../shared/store/keys.js";
import { encodeRow } from "../../shared/store/rowJson.js";
import type { Capabilities } from "../../shared/usecases/capabilities.js";
import { putEnvironment, putGroup } from "../../shared/usecases/directory.js";
import { putResource } from "../../shared/usecases/resources.js";
import { share } from "../../shared/usecases/sharing.js";
import { elapsed, log } from "./config.js";
import { appAdmin, as, forEachLimit } from "./world.js";

export interface ScaleWorldOptions {
  /** Tenant users, all in the big group; the many-grants resource holds this many grants. */
  members: number;
  /** Groups the grouped user is in. */
  groupCount: number;
  /** Resources shared with each of those groups. */
  resourcesPerGroup: number;
}

export interface ScaleWorld {
  envId: string;
  /** Creates every resource and shares them (a paid environment maker). */
  owner: string;
  /** The big group's members, in the order its membership lists them. */
  members: string[];
  bigGroup: string;
  /** Holds members[0..2]. */
  smallGroup: string;
  /** Holds a viewer grant on both check resources: the principal the checks ask about. */
  checker: string;
  /** A resource holding `members` grants (the owner's and members[1..]'s), and one holding 3. */
  manyGrants: string;
  fewGrants: string;
  /** In `groupCount` groups, each holding `resourcesPerGroup` resources; and one holding one direct grant. */
  grouped: string;
  direct: string;
  /** In no group: PATCH adds it to a group and removes it again. */
  joiner: string;
}

/** Member ids: short, so the scale section's world seeds fast. */
export const memberId = (n: number) => n.toString(36).padStart(3, "0");

const role = "viewer";

export async function seedScaleWorld(caps: Capabilities, envId: string, o: ScaleWorldOptions): Promise<ScaleWorld> {
  const started = performance.now();
  const members = Array.from({ length: o.members }, (_, n) => memberId(n));
  const w: ScaleWorld = {
    envId,
    owner: "scale-owner",
    members,
    bigGroup: "scale-big",
    smallGroup: "scale-small",
    checker: members[members.length - 1]!,
    manyGrants: "scale-many-grants",
    fewGrants: "scale-few-grants",
    grouped: "scale-grouped",
    direct: "scale-direct",
    joiner: "scale-joiner",
  };
  if (members.length < 4) throw new Error("the scale world needs at least 4 members");
  await putEnvironment(caps, appAdmin, {
    envId,
    displayName: "Scale bench environment",
    isDefault: false,
    sensitive: false,
    expectedOwnerGroupIds: [],
    sovereignCloud: false,
  });
  await writeUsers(caps, envId, [...members, w.owner, w.grouped, w.direct, w.joiner]);
  log(`[${elapsed()}] scale: ${members.length + 4} users written`);

  const group = (groupId: string, memberIds: string[]) =>
    putGroup(caps, appAdmin, { envId, groupId, displayName: `Scale ${groupId}`, kind: "securityGroup", memberIds });
  await group(w.bigGroup, members);
  await group(w.smallGroup, members.slice(0, 3));
  log(`[${elapsed()}] scale: groups of ${members.length} and 3 written`);

  const resource = (resourceId: string) =>
    putResource(
      caps,
      as(w.owner),
      envId,
      resourceId,
      { kind: "processMining", displayName: `Scale ${resourceId}`, creatorId: w.owner },
      undefined,
    );
  const shareWith = (resourceId: string, principals: { type: "user" | "group"; id: string }[]) =>
    share(caps, as(w.owner), envId, resourceId, { role, principals, sendInvitation: false });

  // The owner's grant and two viewers.
  await resource(w.fewGrants);
  await shareWith(w.fewGrants, [
    { type: "user", id: members[1]! },
    { type: "user", id: w.checker },
  ]);
  await resource(w.manyGrants);
  await writeDirectGrants(caps, envId, w.manyGrants, w.owner, members.slice(1));
  log(`[${elapsed()}] scale: a resource with ${members.length} grants written`);

  await resource("scale-direct-grant");
  await shareWith("scale-direct-grant", [{ type: "user", id: w.direct }]);
  const groups = Array.from({ length: o.groupCount }, (_, k) => `scale-g${(k + 1).toString().padStart(2, "0")}`);
  await forEachLimit(groups, 4, async (g, k) => {
    // Two more members each, so none is a group of one.
    await group(g, [w.grouped, members[(3 + 2 * k) % members.length]!, members[(4 + 2 * k) % members.length]!]);
    for (let r = 0; r < o.resourcesPerGroup; r++) {
      await resource(`${g}-r${r}`);
      await shareWith(`${g}-r${r}`, [{ type: "group", id: g }]);
    }
  });
  log(
    `[${elapsed()}] scale: world seeded in ${((performance.now() - started) / 1000).toFixed(1)} s (${o.groupCount} groups × ${o.resourcesPerGroup} resources for the grouped user)`,
  );
  return w;
}

/** Profiles and memberships (EnvironmentMaker, paid), each user's two rows in one transaction, 16 at a time. */
async function writeUsers(caps: Capabilities, envId: string, ids: string[]): Promise<void> {
  const { rows, tables } = caps.repo;
  await forEachLimit(ids, 16, async (userId) => {
    const user: TenantUser = {
      userId,
      email: `${userId}@contoso.example`,
      displayName: `Scale user ${userId}`,
      userType: "member",
      enabled: true,
      license: "paid",
    };
    const membership: Membership = { envId, userId, securityRoles: ["EnvironmentMaker"], addedBy: "admin" };
    await rows.transact(tables.principals, keys.principalPk({ type: "user", id: userId }), [
      { op: "upsert", rk: keys.profileRk, fields: encodeRow(user) },
      { op: "upsert", rk: keys.memberRk(envId), fields: encodeRow(membership) },
    ]);
  });
  // The tenant directory's id rows, as `putUser` writes them (a group accepts only ids it knows).
  const byPk = new Map<string, string[]>();
  for (const id of ids) byPk.set(keys.tenantUserPk(id), [...(byPk.get(keys.tenantUserPk(id)) ?? []), id]);
  for (const [pk, list] of byPk)
    for (let i = 0; i < list.length; i += 100)
      await rows.transact(
        tables.directory,
        pk,
        list.slice(i, i + 100).map((id): WriteOp => ({ op: "upsert", rk: keys.tenantUserRk(id), fields: { id } })),
      );
  // The environment's list of members, as `putMembership` writes it.
  const listRows = ids.map((userId): WriteOp => ({
    op: "upsert",
    rk: keys.envMemberRk(userId),
    fields: encodeRow({ envId, userId, securityRoles: ["EnvironmentMaker"], addedBy: "admin" } satisfies Membership),
  }));
  for (let i = 0; i < listRows.length; i += 100)
    await rows.transact(tables.directory, keys.directoryPk(envId), listRows.slice(i, i + 100));
}

/**
 * Viewer grant rows for `userIds` in the resource's partition, 100 a transaction, and each user's
 * index row for it (what the relay would write), so listings agree with the grants.
 */
async function writeDirectGrants(
  caps: Capabilities,
  envId: string,
  resourceId: string,
  grantedBy: string,
  userIds: string[],
): Promise<void> {
  const { rows, tables } = caps.repo;
  const grantedAt = new Date().toISOString();
  const ops = userIds.map((id): WriteOp => {
    const grant: Grant = { principalType: "user", principalId: id, role, grantedBy, grantedAt };
    return { op: "upsert", rk: keys.grantRk({ type: "user", id }, role), fields: encodeRow(grant) };
  });
  const pk = keys.resourcePk(envId, resourceId);
  await forEachLimit(
    Array.from({ length: Math.ceil(ops.length / 100) }, (_, i) => ops.slice(i * 100, i * 100 + 100)),
    8,
    (batch) => rows.transact(tables.resources, pk, batch).then(() => undefined),
  );
  const resource = { kind: "processMining" as const, displayName: `Scale ${resourceId}` };
  await forEachLimit(userIds, 16, (id) =>
    caps.repo.index.set({ type: "user", id }, envId, resourceId, "direct", [role], resource),
  );
}
