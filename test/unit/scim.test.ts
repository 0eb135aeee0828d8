import { describe, expect, it } from "vitest";
import { scimErrorSchema, toScimError } from "../../shared/adapters/http/scim.js";
import { invalid, notFound } from "../../shared/errors.js";
import { scimPatchBody, scimUserBody, type ScimPatchOperation } from "../../shared/model/scim.js";
import { decide } from "../../shared/rules/decide.js";
import { excludes, listResponse, pageOf } from "../../shared/usecases/scim/common.js";
import { ScimError, scimInvalid } from "../../shared/usecases/scim/errors.js";
import { parseEqFilter } from "../../shared/usecases/scim/filter.js";
import { applyUserPatch, planGroupPatch } from "../../shared/usecases/scim/patch.js";

const babs = "2819c223-7f76-453a-919d-413861904646";
const jim = "902c246b-6245-4190-8e05-00816be7344a";
const ops = (...o: unknown[]): ScimPatchOperation[] => scimPatchBody.parse({ Operations: o }).Operations;
const scimTypeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    if (e instanceof ScimError) return e.scimType;
    throw e;
  }
  return "no error";
};

describe("filters (RFC 7644 §3.4.2.2): eq and and on the indexed attributes, invalidFilter otherwise", () => {
  const users = ["userName", "externalId", "id"] as const;
  it.each([
    ['userName eq "bjensen"', [{ attribute: "userName", value: "bjensen" }]],
    ['urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen"', [{ attribute: "userName", value: "bjensen" }]],
    ['USERNAME Eq "Bjensen"', [{ attribute: "userName", value: "Bjensen" }]],
    [
      'userName eq "bjensen" and externalId eq "bjensen-ext"',
      [
        { attribute: "userName", value: "bjensen" },
        { attribute: "externalId", value: "bjensen-ext" },
      ],
    ],
    [`id eq "${babs}"`, [{ attribute: "id", value: babs }]],
  ])("accepts %s", (filter, terms) => {
    expect(parseEqFilter(filter, users)).toEqual(terms);
  });

  it.each([
    'name.familyName co "O\'Malley"',
    'userName sw "J"',
    'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
    "title pr",
    'meta.lastModified gt "2011-05-13T04:42:34Z"',
    'meta.lastModified ge "2011-05-13T04:42:34Z"',
    'title pr and userType eq "Employee"',
    'title pr or userType eq "Intern"',
    'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
    'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
    'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
    'userType eq "Employee" and (emails.type eq "work")',
    'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
    'userName eq "a" or userName eq "b"',
    "userName eq true",
    "userName eq",
    'userName eq "unterminated',
  ])("refuses %s", (filter) => {
    expect(scimTypeOf(() => parseEqFilter(filter, users))).toBe("invalidFilter");
  });

  it("groups filter on displayName; users may not", () => {
    expect(parseEqFilter('displayName eq "Sales"', ["displayName", "externalId", "id"])).toEqual([
      { attribute: "displayName", value: "Sales" },
    ]);
    expect(scimTypeOf(() => parseEqFilter('displayName eq "Sales"', users))).toBe("invalidFilter");
  });
});

describe("PATCH of a user (RFC 7644 §3.5.2 examples, and Entra's forms)", () => {
  const user = {
    userName: "bjensen@example.com",
    displayName: "Babs Jensen",
    name: { givenName: "Barbara", familyName: "Jensen" },
    emails: [{ value: "bjensen@example.com", type: "work", primary: true }],
    userType: "Member",
    active: true,
  };
  it("op names in any letter case; others refused", () => {
    expect(ops({ op: "Add", path: "a", value: 1 }, { op: "REPLACE", path: "b", value: 1 }).map((o) => o.op)).toEqual([
      "add",
      "replace",
    ]);
    expect(scimPatchBody.safeParse({ Operations: [{ op: "Move", path: "a" }] }).success).toBe(false);
    expect(scimPatchBody.safeParse({ Operations: [] }).success).toBe(false);
  });

  it("§3.5.2.1 add without a path: the value's attributes are added (an email of another type)", () => {
    const out = applyUserPatch(
      user,
      ops({ op: "add", value: { emails: [{ value: "babs@jensen.org", type: "home" }], nickname: "Babs" } }),
    );
    expect(out.emails).toEqual([user.emails[0], { value: "babs@jensen.org", type: "home" }]);
    // Attributes this service doesn't keep fall away when the result is read as a User.
    expect(scimUserBody.parse(out)).not.toHaveProperty("nickname");
  });

  it("§3.5.2.2 remove with a value filter on a multi-valued attribute", () => {
    const out = applyUserPatch(
      { ...user, emails: [...user.emails, { value: "babs@jensen.org", type: "home" }] },
      ops({ op: "remove", path: 'emails[type eq "work" and value ew "example.com"]' }),
    );
    expect(out.emails).toEqual([{ value: "babs@jensen.org", type: "home" }]);
  });

  it("§3.5.2.3 replace without a path: the attributes given are replaced", () => {
    const emails = [
      { value: "bjensen@example.com", type: "work", primary: true },
      { value: "babs@jensen.org", type: "home" },
    ];
    const out = applyUserPatch(user, ops({ op: "replace", value: { emails, nickname: "Babs" } }));
    expect(out.emails).toEqual(emails);
  });

  it("Entra: Replace of a value-filtered sub-attribute, dotted names without a path, active as a string", () => {
    const out = applyUserPatch(
      user,
      ops(
        { op: "Replace", path: 'emails[type eq "work"].value', value: "babs@example.com" },
        { op: "Replace", value: { "name.givenName": "Babs", displayName: "Babs J" } },
        { op: "Replace", path: "active", value: "False" },
      ),
    );
    const parsed = scimUserBody.parse(out);
    expect(parsed).toMatchObject({
      emails: [{ value: "babs@example.com", type: "work", primary: true }],
      name: { givenName: "Babs", familyName: "Jensen" },
      displayName: "Babs J",
      active: false,
    });
    expect(scimUserBody.parse(applyUserPatch(user, ops({ op: "replace", path: "active", value: "True" }))).active).toBe(
      true,
    );
  });

  it("refuses changes of read-only attributes, a remove without a path, an add without a value", () => {
    expect(scimTypeOf(() => applyUserPatch(user, ops({ op: "replace", path: "id", value: "x" })))).toBe("mutability");
    expect(scimTypeOf(() => applyUserPatch(user, ops({ op: "replace", value: { meta: {} } })))).toBe("mutability");
    expect(scimTypeOf(() => applyUserPatch(user, ops({ op: "remove" })))).toBe("noTarget");
    expect(scimTypeOf(() => applyUserPatch(user, ops({ op: "add", path: "displayName" })))).toBe("invalidValue");
    expect(scimTypeOf(() => applyUserPatch(user, ops({ op: "replace", value: "x" })))).toBe("invalidValue");
  });
});

describe("PATCH of a group becomes adds and removes by value (RFC 7644 §3.5.2 examples)", () => {
  it("§3.5.2.1 add members", () => {
    const plan = planGroupPatch(
      ops({
        op: "add",
        path: "members",
        value: [{ display: "Babs Jensen", $ref: `https://example.com/v2/Users/${babs}`, value: babs }],
      }),
    );
    expect([...plan.add]).toEqual([babs]);
    expect(plan.remove.size).toBe(0);
    expect(plan.replaceMembers).toBeUndefined();
  });

  it('§3.5.2.2 remove one member by members[value eq "…"], and all members', () => {
    expect([...planGroupPatch(ops({ op: "remove", path: `members[value eq "${babs}"]` })).remove]).toEqual([babs]);
    expect([...planGroupPatch(ops({ op: "remove", path: "members" })).replaceMembers!]).toEqual([]);
  });

  it("§3.5.2.2 remove one and add another in one request", () => {
    const plan = planGroupPatch(
      ops(
        { op: "remove", path: `members[value eq "${babs}"]` },
        { op: "add", path: "members", value: [{ display: "James Smith", value: jim }] },
      ),
    );
    expect([...plan.remove]).toEqual([babs]);
    expect([...plan.add]).toEqual([jim]);
  });

  it("§3.5.2.3 replace all members; later adds and removes apply to the replacement", () => {
    const plan = planGroupPatch(
      ops(
        { op: "replace", path: "members", value: [{ value: babs }, { value: jim }] },
        { op: "remove", path: `members[value eq "${babs}"]` },
      ),
    );
    expect([...plan.replaceMembers!]).toEqual([jim]);
  });

  it("Entra: capitalised ops, members removed by value list, displayName and externalId, no-path replace", () => {
    const plan = planGroupPatch(
      ops(
        { op: "Add", path: "members", value: [{ value: babs }, { value: jim }] },
        { op: "Remove", path: "members", value: [{ value: jim }] },
        { op: "Replace", path: "displayName", value: "Sales" },
        { op: "Replace", value: { externalId: "obj-1" } },
      ),
    );
    expect({ add: [...plan.add], remove: [...plan.remove], displayName: plan.displayName }).toEqual({
      add: [babs],
      remove: [jim],
      displayName: "Sales",
    });
    expect(plan.externalId).toBe("obj-1");
    expect(planGroupPatch(ops({ op: "remove", path: "externalId" })).externalId).toBeNull();
  });

  it("refuses paths a group doesn't have, bad member values, a selection that isn't one eq", () => {
    expect(scimTypeOf(() => planGroupPatch(ops({ op: "add", path: "owners", value: [] })))).toBe("invalidPath");
    expect(scimTypeOf(() => planGroupPatch(ops({ op: "add", path: "members", value: [{ id: babs }] })))).toBe(
      "invalidValue",
    );
    expect(scimTypeOf(() => planGroupPatch(ops({ op: "remove", path: 'members[value co "28"]' })))).toBe(
      "invalidFilter",
    );
    expect(scimTypeOf(() => planGroupPatch(ops({ op: "remove", path: "displayName" })))).toBe("mutability");
    expect(scimTypeOf(() => planGroupPatch(ops({ op: "replace", path: "id", value: "x" })))).toBe("mutability");
  });
});

describe("ListResponse and paging (RFC 7644 §3.4.2, §3.4.2.4)", () => {
  it("has the ListResponse schema, totalResults of all, and the asked page", () => {
    const all = ["a", "b", "c", "d", "e"];
    expect(listResponse(all, { startIndex: 2, count: 2 })).toEqual({
      schemas: ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
      totalResults: 5,
      startIndex: 2,
      itemsPerPage: 2,
      Resources: ["b", "c"],
    });
    expect(listResponse(all, { startIndex: 5, count: 10 })).toMatchObject({ itemsPerPage: 1, Resources: ["e"] });
    expect(listResponse([], { startIndex: 1, count: 100 })).toMatchObject({ totalResults: 0, Resources: [] });
  });

  it("reads startIndex below 1 as 1, count below 0 as 0, and caps count at 100", () => {
    expect(pageOf({})).toEqual({ startIndex: 1, count: 100 });
    expect(pageOf({ startIndex: 0, count: -5 })).toEqual({ startIndex: 1, count: 0 });
    expect(pageOf({ startIndex: 7, count: 1000 })).toEqual({ startIndex: 7, count: 100 });
  });

  it("reads excludedAttributes in any case, with or without the core URN", () => {
    expect(excludes("members", "members")).toBe(true);
    expect(excludes("displayName, Members", "members")).toBe(true);
    expect(excludes("urn:ietf:params:scim:schemas:core:2.0:Group:members", "members")).toBe(true);
    expect(excludes(undefined, "members")).toBe(false);
    expect(excludes("membersX", "members")).toBe(false);
  });
});

describe("SCIM error bodies (RFC 7644 §3.12)", () => {
  const body = (e: unknown) => {
    const r = toScimError(e, () => {});
    expect((r.headers as Record<string, string>)["content-type"]).toMatch(/^application\/scim\+json/);
    const parsed = scimErrorSchema.parse(JSON.parse(String(r.body)));
    expect(parsed.status).toBe(String(r.status));
    return parsed;
  };
  it("status as a string, scimType where one applies, fields named in the detail", () => {
    expect(body(scimInvalid("invalidFilter", "no"))).toMatchObject({ status: "400", scimType: "invalidFilter" });
    const fields = body(invalid("the request's body is not valid", [{ field: "body.userName", message: "Required" }]));
    expect(fields).toMatchObject({ status: "400", scimType: "invalidValue" });
    expect(fields.detail).toContain("body.userName: Required");
    const notJson = body(invalid("the body is not valid JSON", [{ field: "body", message: "not valid JSON" }]));
    expect(notJson.scimType).toBe("invalidSyntax");
    const missing = body(notFound("user x"));
    expect(missing).toEqual({
      schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"],
      status: "404",
      detail: "user x",
    });
  });
  it("an unexpected error is a 500 that names nothing internal", () => {
    const r = body(new Error("secret internals"));
    expect(r.status).toBe("500");
    expect(r.detail).not.toContain("secret");
  });
});

describe("a suspended member's decisions", () => {
  it("allow nothing, and say why", () => {
    const resource = { kind: "processMining" as const, creatorId: "c", ownerId: "c" };
    const grants = [{ principalType: "user" as const, principalId: "u", role: "viewer" as const }];
    const principal = { principalId: "u", enabled: true, securityRoles: ["BasicUser"], memberOf: [] };
    expect(decide(resource, grants, principal).actions.length).toBeGreaterThan(0);
    const d = decide(resource, grants, { ...principal, suspended: true });
    expect(d.actions).toEqual([]);
    expect(d.limitation).toBe("suspended");
    expect(decide(resource, grants, { ...principal, enabled: false, suspended: true }).limitation).toBe("disabled");
  });
});
