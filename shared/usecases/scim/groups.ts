import { idSchema, type Group } from "../../model/records.js";
import {
  scimUrn,
  type ScimGroupBody,
  type ScimGroupRecord,
  type ScimListQuery,
  type ScimPatchOperation,
} from "../../model/scim.js";
import type { Caller } from "../capabilities.js";
import { patchGroupMembers, putGroup } from "../directory.js";
import {
  excludes,
  listResponse,
  maxUnfilteredScan,
  pageOf,
  provisioningGate,
  requireProvisioner,
  sameText,
  type Deps,
  type ListResponse,
  type ScimBase,
} from "./common.js";
import { scimConflict, scimInvalid, scimNotFound } from "./errors.js";
import { parseEqFilter } from "./filter.js";
import { planGroupPatch } from "./patch.js";

/**
 * The most members a Group resource lists. Reading members costs in proportion to the group, so past
 * this a GET must say `excludedAttributes=members` (as Entra always does) and page the members on
 * `GET .../groups/{id}/members`.
 */
export const maxListedMembers = 10_000;
/** The most members one call of the directory's member patch changes (`maxMembersPatch`). */
const patchChunk = 1000;

export interface ScimGroup {
  schemas: string[];
  id: string;
  externalId?: string;
  displayName: string;
  members?: { value: string; $ref: string }[];
  meta: { resourceType: "Group"; created?: string; lastModified?: string; location: string };
}

interface GroupView {
  group: Group;
  record: ScimGroupRecord | undefined;
}

async function readGroup(deps: Deps, envId: string, groupId: string): Promise<GroupView | undefined> {
  if (!idSchema.safeParse(groupId).success) return undefined;
  const [found, record] = await Promise.all([
    deps.repo.getGroup(envId, groupId),
    deps.repo.scim.getGroup(envId, groupId),
  ]);
  // SharePoint lists are groups of the product, not of the directory: SCIM sees security groups only.
  return found && found.group.kind === "securityGroup" ? { group: found.group, record } : undefined;
}

async function requireGroup(deps: Deps, envId: string, groupId: string): Promise<GroupView> {
  const v = await readGroup(deps, envId, groupId);
  if (!v) throw scimNotFound(`group ${groupId.slice(0, 128)} is not provisioned in environment ${envId}`);
  return v;
}

/** The group's members, page by page up to `maxListedMembers` (400 `tooMany` past it). */
async function membersOf(deps: Deps, envId: string, group: Group): Promise<string[]> {
  const ids: string[] = [];
  let continuation: string | undefined;
  do {
    const page = await deps.repo.groups.membersPage(envId, group, continuation, 1000);
    ids.push(...page.userIds);
    continuation = page.continuation;
    if (ids.length > maxListedMembers)
      throw scimInvalid(
        "tooMany",
        `group ${group.groupId} has more than ${maxListedMembers} members: ask with excludedAttributes=members`,
      );
  } while (continuation);
  return ids;
}

async function toScimGroup(deps: Deps, envId: string, v: GroupView, base: ScimBase, withMembers: boolean) {
  const members = withMembers ? await membersOf(deps, envId, v.group) : undefined;
  const resource: ScimGroup = {
    schemas: [scimUrn.group],
    id: v.group.groupId,
    ...(v.record?.externalId !== undefined ? { externalId: v.record.externalId } : {}),
    displayName: v.group.displayName,
    ...(members ? { members: members.map((value) => ({ value, $ref: `${base.url}/Users/${value}` })) } : {}),
    meta: {
      resourceType: "Group",
      ...(v.record ? { created: v.record.createdAt, lastModified: v.record.updatedAt } : {}),
      location: `${base.url}/Groups/${v.group.groupId}`,
    },
  };
  return resource;
}

/** The environment's security groups named so (without regard to case): one query, then their rows. */
async function groupsNamed(deps: Deps, envId: string, displayName: string): Promise<GroupView[]> {
  const ids = await deps.repo.idsBySearchText(envId, "group", displayName, 20);
  const views = await Promise.all(ids.map((id) => readGroup(deps, envId, id)));
  return views.filter((v): v is GroupView => v !== undefined && sameText(v.group.displayName, displayName));
}

/** 409 `uniqueness`: a group's displayName is unique in the environment (Entra matches groups by it). */
async function requireFreeName(deps: Deps, envId: string, displayName: string, self?: string) {
  const taken = (await groupsNamed(deps, envId, displayName)).find((v) => v.group.groupId !== self);
  if (taken)
    throw scimConflict(`a group named ${displayName} exists in environment ${envId} (id ${taken.group.groupId})`);
}

async function putRecord(
  deps: Deps,
  envId: string,
  groupId: string,
  externalId: string | undefined,
  previous?: ScimGroupRecord,
) {
  const now = deps.clock().toISOString();
  await deps.repo.scim.putGroup(
    envId,
    {
      groupId,
      ...(externalId !== undefined ? { externalId } : {}),
      createdAt: previous?.createdAt ?? now,
      updatedAt: now,
    },
    previous,
  );
}

/** `POST /Groups`: a security group of the environment, its members through the directory's use case. */
export async function createGroup(deps: Deps, caller: Caller, envId: string, body: ScimGroupBody, base: ScimBase) {
  await requireProvisioner(deps, caller, envId);
  await requireFreeName(deps, envId, body.displayName);
  const groupId = deps.newId();
  // The record first: a group row without it is still a group; a record without its group is never read.
  await putRecord(deps, envId, groupId, body.externalId);
  await putGroup(
    deps,
    caller,
    {
      envId,
      groupId,
      displayName: body.displayName,
      kind: "securityGroup",
      ...(body.members ? { memberIds: body.members.map((m) => m.value) } : {}),
    },
    provisioningGate,
  );
  return toScimGroup(deps, envId, await requireGroup(deps, envId, groupId), base, body.members !== undefined);
}

export async function getGroup(
  deps: Deps,
  caller: Caller,
  envId: string,
  groupId: string,
  q: Pick<ScimListQuery, "excludedAttributes">,
  base: ScimBase,
) {
  await requireProvisioner(deps, caller, envId);
  const v = await requireGroup(deps, envId, groupId);
  return toScimGroup(deps, envId, v, base, !excludes(q.excludedAttributes, "members"));
}

/**
 * `PATCH /Groups/{id}`: displayName and externalId replaced, members added and removed by value (in
 * proportion to the change; `replace` of all members reads the group, as `PUT .../groups/{id}` does).
 * Answers 204, as RFC 7644 §3.5.2 allows, so a PATCH never reads the whole membership back.
 */
export async function patchGroup(
  deps: Deps,
  caller: Caller,
  envId: string,
  groupId: string,
  operations: ScimPatchOperation[],
): Promise<void> {
  await requireProvisioner(deps, caller, envId);
  const plan = planGroupPatch(operations);
  const v = await requireGroup(deps, envId, groupId);
  const renamed = plan.displayName !== undefined && plan.displayName !== v.group.displayName;
  if (renamed && !sameText(plan.displayName!, v.group.displayName))
    await requireFreeName(deps, envId, plan.displayName!, groupId);
  if (plan.externalId !== undefined && (plan.externalId ?? undefined) !== v.record?.externalId)
    await putRecord(deps, envId, groupId, plan.externalId ?? undefined, v.record);
  if (renamed || plan.replaceMembers) {
    const { buckets: _kept, ...group } = v.group;
    await putGroup(
      deps,
      caller,
      {
        ...group,
        displayName: plan.displayName ?? group.displayName,
        ...(plan.replaceMembers ? { memberIds: [...plan.replaceMembers] } : {}),
      },
      provisioningGate,
    );
  }
  const add = [...plan.add];
  const remove = [...plan.remove];
  for (let i = 0; i < Math.max(add.length, remove.length); i += patchChunk) {
    await patchGroupMembers(
      deps,
      caller,
      envId,
      groupId,
      { add: add.slice(i, i + patchChunk), remove: remove.slice(i, i + patchChunk) },
      provisioningGate,
    );
  }
}

/**
 * `DELETE /Groups/{id}`: its members removed first through the directory's use case (in proportion
 * to the group, resumable: a repeated DELETE finishes an interrupted one), then its rows.
 */
export async function deleteGroup(deps: Deps, caller: Caller, envId: string, groupId: string): Promise<void> {
  await requireProvisioner(deps, caller, envId);
  const v = await requireGroup(deps, envId, groupId);
  const { buckets: _kept, ...group } = v.group;
  await putGroup(deps, caller, { ...group, memberIds: [] }, provisioningGate);
  await deps.repo.scim.deleteGroup(envId, groupId);
  await deps.repo.deleteGroup(v.group);
}

const groupFilterAttributes = ["displayName", "externalId", "id"] as const;

/**
 * `GET /Groups`: with a filter (`eq` on displayName, externalId or id, joined by `and`), by key;
 * without, the environment's groups up to `maxUnfilteredScan`. `excludedAttributes=members` leaves
 * the members out, as Entra asks.
 */
export async function listGroups(
  deps: Deps,
  caller: Caller,
  envId: string,
  q: ScimListQuery,
  base: ScimBase,
): Promise<ListResponse<ScimGroup>> {
  await requireProvisioner(deps, caller, envId);
  const page = pageOf(q);
  const withMembers = !excludes(q.excludedAttributes, "members");
  if (q.filter === undefined) {
    const { groups, more } = await deps.repo.directoryUpTo(envId, "group", maxUnfilteredScan);
    if (more)
      throw scimInvalid(
        "tooMany",
        `environment ${envId} has more than ${maxUnfilteredScan} groups; filter by displayName`,
      );
    const security = groups.filter((g) => g.kind === "securityGroup");
    const shown = security.slice(page.startIndex - 1, page.startIndex - 1 + page.count);
    const records = await Promise.all(shown.map((g) => deps.repo.scim.getGroup(envId, g.groupId)));
    const resources = await Promise.all(
      shown.map((group, n) => toScimGroup(deps, envId, { group, record: records[n] }, base, withMembers)),
    );
    return {
      ...listResponse([], page),
      totalResults: security.length,
      itemsPerPage: resources.length,
      Resources: resources,
    };
  }
  const terms = parseEqFilter(q.filter, groupFilterAttributes);
  const first = terms.find((t) => t.attribute === "id") ?? terms.find((t) => t.attribute === "externalId") ?? terms[0]!;
  let views: GroupView[];
  if (first.attribute === "displayName") views = await groupsNamed(deps, envId, first.value);
  else {
    const id =
      first.attribute === "id" ? first.value : await deps.repo.scim.idByExternalId(envId, "group", first.value);
    const v = id === undefined ? undefined : await readGroup(deps, envId, id);
    views = v ? [v] : [];
  }
  const matching = views.filter((v) =>
    terms.every((t) =>
      t.attribute === "displayName"
        ? sameText(v.group.displayName, t.value)
        : t.attribute === "id"
          ? v.group.groupId === t.value
          : v.record?.externalId === t.value,
    ),
  );
  const shown = listResponse(matching, page);
  return {
    ...shown,
    Resources: await Promise.all(shown.Resources.map((v) => toScimGroup(deps, envId, v, base, withMembers))),
  };
}
