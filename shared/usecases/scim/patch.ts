import { scimPatch, ScimError as PatchLibraryError, type ScimPatchOperation as LibraryOperation } from "scim-patch";
import { parseEqFilter } from "./filter.js";
import { scimInvalid, type ScimType } from "./errors.js";
import { idSchema } from "../../model/records.js";
import type { ScimPatchOperation } from "../../model/scim.js";

/** Attributes a client may not change (RFC 7643 §2.2, `mutability: readOnly`/`immutable` here). */
const readOnly = ["id", "meta", "schemas"];

/** The attribute an operation's path names first, lower-cased, without the core schema's URN. */
function firstAttribute(path: string): string {
  return path
    .replace(/^urn:ietf:params:scim:schemas:core:2\.0:(user|group):/i, "")
    .split(/[.[]/, 1)[0]!
    .toLowerCase();
}

/**
 * Applies PATCH operations (RFC 7644 §3.5.2) to a User resource with `scim-patch`: paths with value
 * filters (`emails[type eq "work"].value`), a `replace` with no path and an object of attributes
 * (dotted names too, as Entra sends `name.givenName`), removes. `op` arrives lower-cased (the body
 * schema folds Entra's `Replace`). Returns a new object; the caller validates what came out.
 */
export function applyUserPatch<T extends Record<string, unknown>>(resource: T, operations: ScimPatchOperation[]): T {
  for (const [i, o] of operations.entries()) {
    const touched = o.path
      ? [firstAttribute(o.path)]
      : o.value && typeof o.value === "object"
        ? Object.keys(o.value).map(firstAttribute)
        : [];
    const bad = touched.find((a) => readOnly.includes(a));
    if (bad) throw scimInvalid("mutability", `Operations[${i}]: ${bad} can't be changed`);
    if (o.op !== "remove" && o.value === undefined)
      throw scimInvalid("invalidValue", `Operations[${i}]: ${o.op} needs a value`);
    if (!o.path && o.op === "remove") throw scimInvalid("noTarget", `Operations[${i}]: remove needs a path`);
    if (!o.path && (typeof o.value !== "object" || o.value === null || Array.isArray(o.value)))
      throw scimInvalid("invalidValue", `Operations[${i}]: an operation without a path takes an object of attributes`);
  }
  try {
    return scimPatch(
      { ...resource, schemas: [], meta: { resourceType: "User" } } as never,
      operations.map((o) => ({ op: o.op, ...(o.path ? { path: o.path } : {}), value: o.value }) as LibraryOperation),
      { mutateDocument: false, treatMissingAsAdd: true },
    ) as T;
  } catch (e) {
    if (e instanceof PatchLibraryError) {
      const code = (e.scimCode ?? "invalidValue") as ScimType;
      throw scimInvalid(
        ["invalidPath", "noTarget", "invalidSyntax"].includes(code) ? code : "invalidValue",
        `the PATCH can't be applied: ${e.message || e.name}`,
      );
    }
    // scim-patch throws plain errors on paths it can't walk (a value where an object is expected).
    if (e instanceof Error) throw scimInvalid("invalidPath", `the PATCH can't be applied: ${e.message}`);
    throw e;
  }
}

/** What a PATCH of a group asks: its name and externalId, and members added, removed or all replaced. */
export interface GroupPatchPlan {
  displayName?: string | undefined;
  /** `null`: removed. */
  externalId?: string | null | undefined;
  /** The whole membership, when an operation replaced or removed all members. */
  replaceMembers?: Set<string> | undefined;
  add: Set<string>;
  remove: Set<string>;
}

function memberIds(value: unknown, where: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((m, n) => {
    const id = (m as { value?: unknown } | null)?.value;
    if (typeof id !== "string" || !idSchema.safeParse(id).success)
      throw scimInvalid("invalidValue", `${where}.value[${n}]: a member is {"value": "<user id>"}`);
    return id;
  });
}

function stringValue(value: unknown, where: string, max: number): string {
  if (typeof value !== "string" || value.trim() === "" || value.length > max)
    throw scimInvalid("invalidValue", `${where}: must be a non-empty string of at most ${max} characters`);
  return value;
}

/**
 * Turns PATCH operations on a Group into a plan, without reading its members: members are changed by
 * value (`add`/`remove` with `path: "members"`, `remove` with `members[value eq "id"]`), which costs
 * what changes, not the group's size; only replacing or removing all members reads the group.
 */
export function planGroupPatch(operations: ScimPatchOperation[]): GroupPatchPlan {
  const plan: GroupPatchPlan = { add: new Set(), remove: new Set() };
  const addMember = (id: string) => {
    plan.remove.delete(id);
    if (plan.replaceMembers) plan.replaceMembers.add(id);
    else plan.add.add(id);
  };
  const removeMember = (id: string) => {
    plan.add.delete(id);
    if (plan.replaceMembers) plan.replaceMembers.delete(id);
    else plan.remove.add(id);
  };
  const replaceMembers = (ids: string[]) => {
    plan.replaceMembers = new Set(ids);
    plan.add.clear();
    plan.remove.clear();
  };
  const setAttribute = (op: ScimPatchOperation["op"], name: string, value: unknown, where: string) => {
    const attribute = firstAttribute(name);
    if (attribute === "displayname") {
      if (op === "remove") throw scimInvalid("mutability", `${where}: a group's displayName is required`);
      plan.displayName = stringValue(value, where, 200);
    } else if (attribute === "externalid") {
      plan.externalId = op === "remove" ? null : stringValue(value, where, 256);
    } else if (attribute === "members") {
      if (op === "remove" && value === undefined) replaceMembers([]);
      else if (op === "replace") replaceMembers(value === null ? [] : memberIds(value, where));
      else memberIds(value, where).forEach(op === "add" ? addMember : removeMember);
    } else if (readOnly.includes(attribute)) {
      throw scimInvalid("mutability", `${where}: ${attribute} can't be changed`);
    } else {
      throw scimInvalid("invalidPath", `${where}: a group has displayName, externalId and members, not ${name}`);
    }
  };
  for (const [i, o] of operations.entries()) {
    const where = `Operations[${i}]`;
    if (o.op !== "remove" && o.value === undefined)
      throw scimInvalid("invalidValue", `${where}: ${o.op} needs a value`);
    if (!o.path) {
      if (o.op === "remove") throw scimInvalid("noTarget", `${where}: remove needs a path`);
      if (typeof o.value !== "object" || o.value === null || Array.isArray(o.value))
        throw scimInvalid("invalidValue", `${where}: an operation without a path takes an object of attributes`);
      for (const [name, value] of Object.entries(o.value)) setAttribute(o.op, name, value, `${where}.value.${name}`);
      continue;
    }
    // `members[value eq "id"]`: the filter inside the brackets names the member(s).
    const selection = /^members\[(.*)\]$/is.exec(o.path.trim());
    if (selection) {
      if (o.op !== "remove")
        throw scimInvalid("invalidPath", `${where}: members are added by value, with path "members"`);
      const terms = parseEqFilter(selection[1]!, ["value"]);
      if (terms.length !== 1 || !idSchema.safeParse(terms[0]!.value).success)
        throw scimInvalid("invalidFilter", `${where}: select one member, as members[value eq "<user id>"]`);
      removeMember(terms[0]!.value);
      continue;
    }
    setAttribute(o.op, o.path, o.value, where);
  }
  return plan;
}
