/**
 * Seeds many tenant users straight into storage, for tests of sizes that thousands of HTTP calls
 * would make slow: the same rows `putUser` and `putMembership` write (keys.ts), nothing else.
 */
import { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import type { Membership, TenantUser } from "../../shared/model/records.js";
import type { WriteOp } from "../../shared/ports/rows.js";
import { keys, tableNames } from "../../shared/store/keys.js";
import { encodeRow } from "../../shared/store/rowJson.js";
import { forEachLimit } from "../../shared/usecases/catalogWalk.js";
import type { Stack } from "./stack.js";

export const stackTables = (stack: Stack) => tableNames(stack.settings.TABLE_PREFIX ?? "sharing");

/**
 * Writes users. `known`: only the tenant directory's id rows (enough to be accepted as group members);
 * `members`: also each profile and a membership of `envId` with no security role (enough to act and list).
 */
export async function seedUsers(
  stack: Stack,
  ids: readonly string[],
  how: { known: true } | { members: string },
): Promise<void> {
  // A long timeout: seeding competes with the host for one Azurite.
  const rows = new AzureRowStore({ connectionString: stack.storageConnectionString, requestTimeoutMs: 60_000 });
  const tables = stackTables(stack);
  // The tenant's id rows go to their buckets' partitions, 100 a transaction.
  const byPk = new Map<string, string[]>();
  for (const id of ids) byPk.set(keys.tenantUserPk(id), [...(byPk.get(keys.tenantUserPk(id)) ?? []), id]);
  const batches: { pk: string; ids: string[] }[] = [];
  for (const [pk, list] of byPk)
    for (let i = 0; i < list.length; i += 100) batches.push({ pk, ids: list.slice(i, i + 100) });
  await forEachLimit(batches, 8, (b) =>
    rows
      .transact(
        tables.directory,
        b.pk,
        b.ids.map((id): WriteOp => ({ op: "upsert", rk: keys.tenantUserRk(id), fields: { id } })),
      )
      .then(() => undefined),
  );
  const chunks: string[][] = [];
  for (let i = 0; i < ids.length; i += 100) chunks.push(ids.slice(i, i + 100));
  await forEachLimit(chunks, 8, async (chunk) => {
    if (!("members" in how)) return;
    const envId = how.members;
    const membership = (userId: string): Membership => ({ envId, userId, securityRoles: [], addedBy: "admin" });
    await rows.transact(
      tables.directory,
      keys.directoryPk(envId),
      chunk.map((id): WriteOp => ({ op: "upsert", rk: keys.envMemberRk(id), fields: encodeRow(membership(id)) })),
    );
  });
  if (!("members" in how)) return;
  const envId = how.members;
  await forEachLimit([...ids], 16, async (id) => {
    const user: TenantUser = {
      userId: id,
      email: `${id}@contoso.example`,
      displayName: id,
      userType: "member",
      enabled: true,
      license: "paid",
    };
    await rows.transact(tables.principals, keys.principalPk({ type: "user", id }), [
      { op: "upsert", rk: keys.profileRk, fields: encodeRow(user) },
      {
        op: "upsert",
        rk: keys.memberRk(envId),
        fields: encodeRow({ envId, userId: id, securityRoles: [], addedBy: "admin" } satisfies Membership),
      },
    ]);
  });
}

/** Which of these users have an index row for the resource through the group, and with which roles. */
export async function rowsThroughGroup(
  stack: Stack,
  envId: string,
  resourceId: string,
  group: { type: "group" | "sharePointList"; id: string },
  userIds: readonly string[],
): Promise<Map<string, string>> {
  // A long timeout: seeding competes with the host for one Azurite.
  const rows = new AzureRowStore({ connectionString: stack.storageConnectionString, requestTimeoutMs: 60_000 });
  const tables = stackTables(stack);
  const found = new Map<string, string>();
  await forEachLimit([...userIds], 16, async (id) => {
    const row = await rows.get(
      tables.principals,
      keys.principalPk({ type: "user", id }),
      keys.indexRk(envId, resourceId, `${group.type}.${group.id}`),
    );
    if (row) found.set(id, String((JSON.parse(String(row.fields.json)) as { roles: string[] }).roles.join(",")));
  });
  return found;
}
