import { describe, expect, it } from "vitest";
import type { Connection, Grant, Resource } from "../../shared/model/records.js";
import type { Role } from "../../shared/rules/matrix.js";
import {
  connectionTakeoverRoute,
  withResolveRoute,
  withStoppedConnections,
} from "../../shared/usecases/connections.js";
import { previousOwnerGrants } from "../../shared/usecases/ownerChange.js";
import { cannotOwnBecause, handOver, ownerAlertJobs } from "../../shared/usecases/primaryOwner.js";

const at = "2026-01-01T00:00:00.000Z";
const conn = (id: string, usage: Connection["usage"], ownerId = "maker"): Connection => ({
  id,
  connector: `C-${id}`,
  ownerId,
  usage,
});

describe("connections a registration stops listing (seed 004: they move to other and stay)", () => {
  it.each([
    {
      what: "an embedded connection no longer listed becomes other, after the listed ones",
      before: [conn("a", "embedded"), conn("b", "embedded")],
      after: [conn("b", "embedded")],
      expected: [conn("b", "embedded"), conn("a", "other")],
    },
    {
      what: "one listed again is as listed (embedded again)",
      before: [conn("b", "embedded"), conn("a", "other")],
      after: [conn("a", "embedded"), conn("b", "embedded")],
      expected: [conn("a", "embedded"), conn("b", "embedded")],
    },
    {
      what: "an other connection no longer listed stays other",
      before: [conn("a", "other", "co")],
      after: [],
      expected: [conn("a", "other", "co")],
    },
    {
      what: "a first registration keeps what it lists",
      before: undefined,
      after: [conn("a", "embedded")],
      expected: [conn("a", "embedded")],
    },
    {
      what: "no list leaves the stored ones alone",
      before: [conn("a", "embedded")],
      after: undefined,
      expected: undefined,
    },
  ])("$what", ({ before, after, expected }) => {
    expect(withStoppedConnections(before, after)).toEqual(expected);
  });

  it("names the route that resolves a connection to fix", () => {
    expect(connectionTakeoverRoute("e1", "f1", "c1")).toBe("PUT /api/environments/e1/resources/f1/connections/c1");
    expect(withResolveRoute("e1", { resourceId: "f1", connectionId: "c1", ownerId: "x" })).toEqual({
      resourceId: "f1",
      connectionId: "c1",
      ownerId: "x",
      resolveWith: "PUT /api/environments/e1/resources/f1/connections/c1",
    });
  });
});

describe("who can be a primary owner", () => {
  const member = { securityRoles: ["EnvironmentMaker"] };
  it.each([
    {
      what: "an enabled member maker",
      user: { enabled: true, userType: "member" },
      membership: member,
      why: undefined,
    },
    {
      what: "an admin",
      user: { enabled: true, userType: "member" },
      membership: { securityRoles: ["SystemAdministrator"] },
      why: undefined,
    },
    { what: "nobody known", user: undefined, membership: member, why: /not in the tenant directory/ },
    { what: "a disabled user", user: { enabled: false, userType: "member" }, membership: member, why: /disabled/ },
    { what: "a guest", user: { enabled: true, userType: "guest" }, membership: member, why: /guest/ },
    { what: "a non-member", user: { enabled: true, userType: "member" }, membership: undefined, why: /not a member/ },
    {
      what: "a suspended member",
      user: { enabled: true, userType: "member" },
      membership: { ...member, suspended: true },
      why: /suspended/,
    },
    {
      what: "a basic user",
      user: { enabled: true, userType: "member" },
      membership: { securityRoles: ["BasicUser"] },
      why: /BasicUser.*EnvironmentMaker/,
    },
  ])("$what", ({ user, membership, why }) => {
    const said = cannotOwnBecause(user, membership, "e1");
    if (why === undefined) expect(said).toBeUndefined();
    else expect(said).toMatch(why);
  });
});

describe("a change of primary owner", () => {
  const resource = (kind: Resource["kind"]): Resource => ({
    envId: "e1",
    resourceId: "r1",
    kind,
    displayName: "R",
    creatorId: "maker",
    ownerId: "maker",
    createdAt: at,
    updatedAt: at,
  });
  const grant = (principalId: string, role: Role): Grant => ({
    principalType: "user",
    principalId,
    role,
    grantedBy: "maker",
    grantedAt: at,
  });

  it("gives the new owner an owner grant and ownerId, dropping the co-owner grant owning supersedes", () => {
    const state = {
      resource: resource("processMining"),
      grants: [grant("maker", "owner"), grant("heir", "coOwner")],
      etag: "1",
    };
    const h = handOver(state, "heir", "admin", "2026-02-01T00:00:00.000Z");
    expect(h.resource).toMatchObject({ ownerId: "heir", updatedAt: "2026-02-01T00:00:00.000Z" });
    expect(h.putGrants).toEqual([
      {
        principalType: "user",
        principalId: "heir",
        role: "owner",
        grantedBy: "admin",
        grantedAt: "2026-02-01T00:00:00.000Z",
      },
    ]);
    expect(h.deleteGrants).toEqual([{ principal: { type: "user", id: "heir" }, role: "coOwner" }]);
    expect(h.newOwnerRoles).toEqual(["owner"]);
  });

  it("writes no second owner grant for a flow owner made primary, and keeps their other roles", () => {
    const state = {
      resource: resource("cloudFlow"),
      grants: [grant("maker", "owner"), grant("co", "owner"), grant("co", "runOnly")],
      etag: "1",
    };
    const h = handOver(state, "co", "maker", at);
    expect(h.putGrants).toEqual([]);
    expect(h.deleteGrants).toEqual([]);
    expect(h.newOwnerRoles.sort()).toEqual(["owner", "runOnly"]);
  });

  const prev = { type: "user" as const, id: "maker" };
  it.each([
    { kind: "cloudFlow", held: ["owner"], keep: true, put: [], del: [], roles: ["owner"] },
    { kind: "cloudFlow", held: ["owner"], keep: false, put: [], del: ["owner"], roles: [] },
    { kind: "processMining", held: ["owner"], keep: true, put: ["coOwner"], del: ["owner"], roles: ["coOwner"] },
    { kind: "taskMining", held: ["owner"], keep: true, put: ["coOwner"], del: ["owner"], roles: ["coOwner"] },
    { kind: "processMining", held: ["owner"], keep: false, put: [], del: ["owner"], roles: [] },
    { kind: "processMining", held: ["owner", "coOwner"], keep: true, put: [], del: ["owner"], roles: ["coOwner"] },
  ] as const)("previous owner of a $kind holding $held, keep $keep", ({ kind, held, keep, put, del, roles }) => {
    const r = previousOwnerGrants({ kind }, held, prev, keep, "admin", at);
    expect(r.putGrants.map((g) => `${g.principalId}:${g.role}`)).toEqual(put.map((x) => `maker:${x}`));
    expect(r.deleteGrants).toEqual(del.map((role) => ({ principal: prev, role })));
    expect(r.previousRoles).toEqual(roles);
  });

  it("alerts only in a sensitive environment", () => {
    const deps = { newId: () => "id1" };
    const to = { type: "user" as const, id: "heir" };
    expect(ownerAlertJobs(deps, { envId: "e1", sensitive: false }, "r1", to, "admin", at)).toEqual([]);
    expect(ownerAlertJobs(deps, { envId: "e1", sensitive: true }, "r1", to, "admin", at)).toEqual([
      {
        kind: "ownerAlert",
        envId: "e1",
        resourceId: "r1",
        principal: to,
        role: "owner",
        actorId: "admin",
        at,
        alertId: "id1",
      },
    ]);
  });
});
