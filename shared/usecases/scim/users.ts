import { z } from "zod";
import { idSchema, type Membership, type TenantUser } from "../../model/records.js";
import {
  scimUrn,
  scimUserBody,
  type ScimListQuery,
  type ScimPatchOperation,
  type ScimUserBody,
  type ScimUserRecord,
} from "../../model/scim.js";
import type { Caller } from "../capabilities.js";
import { putMembership, storeUser } from "../directory.js";
import { removeMember, setMemberActive } from "../leavers.js";
import {
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
import { applyUserPatch } from "./patch.js";

/** A provisioned user as this service holds them in one environment. */
interface UserView {
  user: TenantUser;
  membership: Membership;
  record: ScimUserRecord | undefined;
}

/** The User resource (RFC 7643 §4.1) as returned. */
export interface ScimUser {
  schemas: string[];
  id: string;
  externalId?: string;
  userName: string;
  displayName: string;
  name?: ScimUserRecord["name"];
  emails: NonNullable<ScimUserRecord["emails"]>;
  userType: string;
  active: boolean;
  meta: { resourceType: "User"; created?: string; lastModified?: string; location: string };
}

/**
 * The resource from our records: what the client sent where we kept it, else the tenant profile
 * (members added through the directory routes have no SCIM record). `userName` is the profile's
 * email, in the letter case the client sent it when that is the same address.
 */
export function toScimUser(v: UserView, base: ScimBase): ScimUser {
  const r = v.record;
  return {
    schemas: [scimUrn.user],
    id: v.user.userId,
    ...(r?.externalId !== undefined ? { externalId: r.externalId } : {}),
    userName: r && sameText(r.userName, v.user.email) ? r.userName : v.user.email,
    displayName: r?.displayName ?? v.user.displayName,
    ...(r?.name ? { name: r.name } : {}),
    emails: r?.emails ?? [{ value: v.user.email, type: "work", primary: true }],
    userType: r?.userType ?? (v.user.userType === "guest" ? "Guest" : "Member"),
    active: v.membership.suspended !== true,
    meta: {
      resourceType: "User",
      ...(r ? { created: r.createdAt, lastModified: r.updatedAt } : {}),
      location: `${base.url}/Users/${v.user.userId}`,
    },
  };
}

const emailSchema = z.string().email();

/** `userName` is the tenant user's email here, so it must be one (400 `invalidValue` naming it otherwise). */
function requireEmailUserName(userName: string): void {
  if (!emailSchema.safeParse(userName).success)
    throw scimInvalid(
      "invalidValue",
      `userName must be the user's email address (as userPrincipalName is), not ${userName.slice(0, 100)}`,
    );
}

/** The profile's display name: the one sent, else the formatted or given and family names, else the userName. */
function displayNameOf(body: ScimUserBody): string {
  const given = [body.name?.givenName, body.name?.familyName].filter((s) => s && s.trim() !== "").join(" ");
  const name = [body.displayName, body.name?.formatted, given, body.userName].find((s) => s && s.trim() !== "")!;
  return name.trim().slice(0, 200);
}

const profileUserType = (userType: string | undefined, previous: TenantUser["userType"] | undefined) =>
  userType === undefined ? (previous ?? "member") : /^guest$/i.test(userType) ? "guest" : "member";

async function readUser(deps: Deps, envId: string, userId: string): Promise<UserView | undefined> {
  if (!idSchema.safeParse(userId).success) return undefined;
  const [user, membership, record] = await Promise.all([
    deps.repo.getUser(userId),
    deps.repo.getMembership(envId, userId),
    deps.repo.scim.getUser(envId, userId),
  ]);
  return user && membership ? { user, membership, record } : undefined;
}

async function requireUser(deps: Deps, envId: string, userId: string): Promise<UserView> {
  const v = await readUser(deps, envId, userId);
  if (!v) throw scimNotFound(`user ${userId.slice(0, 128)} is not provisioned in environment ${envId}`);
  return v;
}

/** Tenant users whose email is this userName (compared without regard to case): one query, then their rows. */
async function tenantUsersNamed(deps: Deps, envId: string, userName: string) {
  const ids = await deps.repo.idsBySearchText(undefined, "email", userName, 20);
  const found = await Promise.all(ids.map((id) => readUserOrProfile(deps, envId, id)));
  return found.filter((f) => f.user !== undefined && sameText(f.user.email, userName));
}

async function readUserOrProfile(deps: Deps, envId: string, userId: string) {
  const [user, membership] = await Promise.all([deps.repo.getUser(userId), deps.repo.getMembership(envId, userId)]);
  return { userId, user, membership };
}

/** 409 `uniqueness` when another member of the environment holds this userName. */
async function requireFreeUserName(
  deps: Deps,
  envId: string,
  userName: string,
  self?: string,
): Promise<TenantUser | undefined> {
  const named = await tenantUsersNamed(deps, envId, userName);
  const taken = named.find((n) => n.membership && n.userId !== self);
  if (taken)
    throw scimConflict(`userName ${userName} is already provisioned in environment ${envId} (id ${taken.userId})`);
  return named.find((n) => n.userId === self)?.user ?? named[0]?.user;
}

/**
 * Stores what a create or a replace asks of a user: the SCIM record first (nothing shows it before
 * the membership exists), the profile where it changed, the membership, and last `active`, so a
 * client repeating a request that failed halfway finishes it.
 */
async function store(
  deps: Deps,
  caller: Caller,
  envId: string,
  userId: string,
  body: ScimUserBody,
  previous: { user?: TenantUser | undefined; membership?: Membership | undefined; record?: ScimUserRecord | undefined },
): Promise<void> {
  const now = deps.clock().toISOString();
  const record: ScimUserRecord = {
    userId,
    userName: body.userName,
    ...(body.externalId !== undefined ? { externalId: body.externalId } : {}),
    ...(body.displayName !== undefined ? { displayName: body.displayName } : {}),
    ...(body.name !== undefined ? { name: body.name } : {}),
    ...(body.emails !== undefined ? { emails: body.emails } : {}),
    ...(body.userType !== undefined ? { userType: body.userType } : {}),
    createdAt: previous.record?.createdAt ?? now,
    updatedAt: now,
  };
  await deps.repo.scim.putUser(envId, record, previous.record);
  const user: TenantUser = {
    userId,
    email: body.userName,
    displayName: displayNameOf(body),
    userType: profileUserType(body.userType, previous.user?.userType),
    // A new user is enabled with the least license; the directory route (`PUT /api/users`) sets others.
    enabled: previous.user?.enabled ?? true,
    license: previous.user?.license ?? "free",
  };
  if (JSON.stringify(user) !== JSON.stringify(previous.user)) await storeUser(deps, caller, user);
  if (!previous.membership)
    await putMembership(deps, caller, { envId, userId, securityRoles: ["BasicUser"] }, provisioningGate);
  const wasActive = previous.membership ? previous.membership.suspended !== true : true;
  if (body.active !== undefined && body.active !== wasActive)
    await setMemberActive(deps, caller, envId, userId, body.active);
}

/** `POST /Users`: the tenant user where the directory has none with that email, and the membership (`BasicUser`). */
export async function createUser(deps: Deps, caller: Caller, envId: string, body: ScimUserBody, base: ScimBase) {
  await requireProvisioner(deps, caller, envId);
  requireEmailUserName(body.userName);
  const existing = await requireFreeUserName(deps, envId, body.userName);
  const userId = existing?.userId ?? deps.newId();
  await store(deps, caller, envId, userId, body, {
    user: existing,
    record: existing ? await deps.repo.scim.getUser(envId, userId) : undefined,
  });
  return toScimUser(await requireUser(deps, envId, userId), base);
}

export async function getUser(deps: Deps, caller: Caller, envId: string, userId: string, base: ScimBase) {
  await requireProvisioner(deps, caller, envId);
  return toScimUser(await requireUser(deps, envId, userId), base);
}

/** `PUT /Users/{id}`: the attributes replaced by those sent (`active` kept when not sent). */
export async function replaceUser(
  deps: Deps,
  caller: Caller,
  envId: string,
  userId: string,
  body: ScimUserBody,
  base: ScimBase,
) {
  await requireProvisioner(deps, caller, envId);
  const v = await requireUser(deps, envId, userId);
  await saveChanged(deps, caller, envId, v, body);
  return toScimUser(await requireUser(deps, envId, userId), base);
}

async function saveChanged(deps: Deps, caller: Caller, envId: string, v: UserView, body: ScimUserBody) {
  requireEmailUserName(body.userName);
  if (!sameText(body.userName, v.user.email)) await requireFreeUserName(deps, envId, body.userName, v.user.userId);
  await store(deps, caller, envId, v.user.userId, body, v);
}

/** `PATCH /Users/{id}`: the operations applied to the resource as it is, the result checked and stored. */
export async function patchUser(
  deps: Deps,
  caller: Caller,
  envId: string,
  userId: string,
  operations: ScimPatchOperation[],
  base: ScimBase,
) {
  await requireProvisioner(deps, caller, envId);
  const v = await requireUser(deps, envId, userId);
  const { meta: _meta, schemas: _schemas, id: _id, ...current } = toScimUser(v, base);
  const patched = applyUserPatch(current, operations);
  const parsed = scimUserBody.safeParse(patched);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw scimInvalid("invalidValue", `after the PATCH, ${issue.path.join(".") || "the user"}: ${issue.message}`);
  }
  await saveChanged(deps, caller, envId, v, parsed.data);
  return toScimUser(await requireUser(deps, envId, userId), base);
}

/** `DELETE /Users/{id}`: the membership removed (the offboarding hook runs), and provisioning's record of the user. */
export async function deleteUser(deps: Deps, caller: Caller, envId: string, userId: string): Promise<void> {
  await requireProvisioner(deps, caller, envId);
  await requireUser(deps, envId, userId);
  await removeMember(deps, caller, envId, userId);
  await deps.repo.scim.deleteUser(envId, userId);
}

const userFilterAttributes = ["userName", "externalId", "id"] as const;

/**
 * `GET /Users`: with a filter (`eq` on userName, externalId or id, joined by `and`), the candidates
 * of one indexed term read by key and every term compared; without one, the environment's members,
 * up to `maxUnfilteredScan` (400 `tooMany` past it: Entra always filters).
 */
export async function listUsers(
  deps: Deps,
  caller: Caller,
  envId: string,
  q: ScimListQuery,
  base: ScimBase,
): Promise<ListResponse<ScimUser>> {
  await requireProvisioner(deps, caller, envId);
  const page = pageOf(q);
  if (q.filter === undefined) {
    const { members, more } = await deps.repo.directoryUpTo(envId, "member", maxUnfilteredScan);
    if (more)
      throw scimInvalid(
        "tooMany",
        `environment ${envId} has more than ${maxUnfilteredScan} members; filter by userName, externalId or id`,
      );
    const shown = members.slice(page.startIndex - 1, page.startIndex - 1 + page.count);
    const views = await Promise.all(shown.map((m) => readUser(deps, envId, m.userId)));
    const resources = views.filter((x): x is UserView => x !== undefined).map((x) => toScimUser(x, base));
    return {
      ...listResponse([], page),
      totalResults: members.length,
      itemsPerPage: resources.length,
      Resources: resources,
    };
  }
  const terms = parseEqFilter(q.filter, userFilterAttributes);
  const first = terms.find((t) => t.attribute === "id") ?? terms.find((t) => t.attribute === "externalId") ?? terms[0]!;
  let ids: string[];
  if (first.attribute === "id") ids = [first.value];
  else if (first.attribute === "externalId") {
    const id = await deps.repo.scim.idByExternalId(envId, "user", first.value);
    ids = id ? [id] : [];
  } else ids = (await tenantUsersNamed(deps, envId, first.value)).filter((n) => n.membership).map((n) => n.userId);
  const views = (await Promise.all(ids.map((id) => readUser(deps, envId, id)))).filter(
    (x): x is UserView => x !== undefined,
  );
  const matching = views
    .map((v) => toScimUser(v, base))
    .filter((u) =>
      terms.every((t) =>
        t.attribute === "userName"
          ? sameText(u.userName, t.value)
          : t.attribute === "id"
            ? u.id === t.value
            : u.externalId === t.value,
      ),
    );
  return listResponse(matching, page);
}
