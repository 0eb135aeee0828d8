import { describe, expect, it } from "vitest";
import {
  compareFindings,
  ownersAddedFindings,
  resourceFindings,
  usersToLookUp,
  type ResourceFacts,
  type UserFacts,
} from "../../shared/rules/audit.js";
import type { AuditRule, Finding } from "../../shared/model/audits.js";
import type { ChangeEntry, Grant, Resource } from "../../shared/model/records.js";
import type { DlpPolicy } from "../../shared/model/dlp.js";

// The audit rules alone: facts in, findings out, no storage.

const at = "2026-01-01T00:00:00.000Z";
const member: UserFacts = { known: true, enabled: true, guest: false, groupIds: ["makers"] };
const disabled: UserFacts = { ...member, enabled: false };
const guest: UserFacts = { ...member, guest: true };
const outsider: UserFacts = { ...member, groupIds: [] };

const process = (extra: Partial<Resource> = {}): Resource => ({
  envId: "e1",
  resourceId: "r1",
  kind: "processMining",
  displayName: "Invoices",
  creatorId: "u1",
  ownerId: "u1",
  createdAt: at,
  updatedAt: at,
  ...extra,
});
const flow = (extra: Partial<Resource> = {}): Resource =>
  process({ kind: "cloudFlow", solutionAware: true, triggerKind: "instant", ...extra });

const grant = (principalId: string, role: Grant["role"], principalType: Grant["principalType"] = "user"): Grant => ({
  principalType,
  principalId,
  role,
  grantedBy: "u1",
  grantedAt: at,
});

const facts = (users: Record<string, UserFacts>, groupsWithEnabledMember: string[] = []): ResourceFacts => ({
  users: new Map(Object.entries(users)),
  groupsWithEnabledMember: new Set(groupsWithEnabledMember),
});

const env = { expectedOwnerGroupIds: ["makers"], maxOwners: 2 };

const rulesOf = (fs: Finding[]) => fs.map((f) => `${f.rule}:${f.principalId ?? "-"}`).sort();

describe("audit rules on one resource", () => {
  const rows: {
    what: string;
    resource: Resource;
    grants: Grant[];
    facts: ResourceFacts;
    env?: { expectedOwnerGroupIds: string[]; maxOwners?: number; autoOffboard?: boolean; dlp?: DlpPolicy };
    expected: string[];
  }[] = [
    {
      what: "an enabled owner in the expected groups: nothing",
      resource: process(),
      grants: [grant("u1", "owner")],
      facts: facts({ u1: member }),
      expected: [],
    },
    {
      what: "no grant at all: no enabled owner",
      resource: process(),
      grants: [],
      facts: facts({}),
      // Nobody holds the primary owner's grant either: ownerless.
      expected: ["noEnabledOwner:-", "ownerlessResource:u1"],
    },
    {
      what: "the only owner disabled: no enabled owner and a grant to a disabled user",
      resource: process(),
      grants: [grant("u1", "owner")],
      facts: facts({ u1: disabled }),
      // With autoOffboard off (the default), the disabled owner is also a leaver not offboarded.
      expected: ["disabledUserGrant:u1", "leaverNotOffboarded:u1", "noEnabledOwner:-"],
    },
    {
      what: "a user missing from the facts counts as no longer in the directory",
      resource: process(),
      grants: [grant("u1", "owner"), grant("ghost", "viewer")],
      facts: facts({ u1: member }),
      expected: ["disabledUserGrant:ghost", "leaverNotOffboarded:ghost"],
    },
    {
      what: "an enabled co-owner doesn't make up for a disabled owner",
      resource: process(),
      grants: [grant("u1", "owner"), grant("u2", "coOwner")],
      facts: facts({ u1: disabled, u2: member }),
      expected: ["disabledUserGrant:u1", "leaverNotOffboarded:u1", "noEnabledOwner:-"],
    },
    {
      what: "an owner group with an enabled member is an enabled owner",
      resource: process(),
      grants: [grant("u1", "owner"), grant("makers", "owner", "group")],
      facts: facts({ u1: disabled }, ["makers"]),
      expected: ["disabledUserGrant:u1", "leaverNotOffboarded:u1"],
    },
    {
      what: "an owner group without an enabled member is not",
      resource: process(),
      grants: [grant("makers", "owner", "group")],
      facts: facts({}),
      expected: ["noEnabledOwner:-", "ownerlessResource:u1"],
    },
    {
      what: "a guest co-owner",
      resource: process(),
      grants: [grant("u1", "owner"), grant("g1", "coOwner")],
      facts: facts({ u1: member, g1: guest }),
      expected: ["guestOwner:g1"],
    },
    {
      what: "a guest viewer is not an owner",
      resource: process(),
      grants: [grant("u1", "owner"), grant("g1", "viewer")],
      facts: facts({ u1: member, g1: guest }),
      expected: [],
    },
    {
      what: "an owner user outside the expected groups",
      resource: process(),
      grants: [grant("u1", "owner"), grant("o1", "coOwner")],
      facts: facts({ u1: member, o1: outsider }),
      expected: ["ownerOutsideExpectedGroups:o1"],
    },
    {
      what: "an owner group that is not an expected one",
      resource: process(),
      grants: [grant("u1", "owner"), grant("others", "coOwner", "group")],
      facts: facts({ u1: member }),
      expected: ["ownerOutsideExpectedGroups:others"],
    },
    {
      what: "no expected groups set: nobody is outside them",
      resource: process(),
      grants: [grant("u1", "owner"), grant("others", "coOwner", "group")],
      facts: facts({ u1: outsider }),
      env: { expectedOwnerGroupIds: [] },
      expected: [],
    },
    {
      what: "a flow with more owners than allowed",
      resource: flow(),
      grants: [grant("u1", "owner"), grant("u2", "owner"), grant("u3", "owner")],
      facts: facts({ u1: member, u2: member, u3: member }),
      expected: ["tooManyOwners:-"],
    },
    {
      what: "a process with as many owners is not a flow",
      resource: process(),
      grants: [grant("u1", "owner"), grant("u2", "owner"), grant("u3", "owner")],
      facts: facts({ u1: member, u2: member, u3: member }),
      expected: [],
    },
    {
      what: "no maximum set: any number of owners",
      resource: flow(),
      grants: [grant("u1", "owner"), grant("u2", "owner"), grant("u3", "owner")],
      facts: facts({ u1: member, u2: member, u3: member }),
      env: { expectedOwnerGroupIds: ["makers"] },
      expected: [],
    },
    {
      what: "an embedded connection of a disabled user, and not one used otherwise",
      resource: flow({
        connections: [
          { id: "c1", connector: "Outlook", ownerId: "gone", usage: "embedded" },
          { id: "c2", connector: "Teams", ownerId: "gone", usage: "other" },
        ],
      }),
      grants: [grant("u1", "owner")],
      facts: facts({ u1: member, gone: disabled }),
      expected: ["disabledConnectionOwner:gone"],
    },
    {
      what: "an offboarded primary owner with no successor: ownerless, though an enabled co-owner stays",
      resource: process(),
      grants: [grant("u2", "coOwner")],
      facts: facts({ u2: member }),
      expected: ["noEnabledOwner:-", "ownerlessResource:u1"],
    },
    {
      what: "a member removed from the environment who still holds a grant is a leaver",
      resource: process(),
      grants: [grant("u1", "owner"), grant("u2", "viewer")],
      facts: facts({ u1: member, u2: { ...member, member: false } }),
      expected: ["leaverNotOffboarded:u2"],
    },
    {
      what: "with autoOffboard on, leavers are offboarded, not flagged",
      resource: process(),
      grants: [grant("u1", "owner"), grant("u2", "viewer")],
      facts: facts({ u1: member, u2: disabled }),
      env: { expectedOwnerGroupIds: ["makers"], autoOffboard: true },
      expected: ["disabledUserGrant:u2"],
    },
    // Seed 004's best practices: owners outside the environment, owners without a maker role.
    {
      what: "autoOffboard on: an owner and a co-owner who are not members are flagged, a viewer who is not isn't",
      resource: process(),
      grants: [grant("u1", "owner"), grant("u2", "coOwner"), grant("u3", "viewer")],
      facts: facts({
        u1: { ...member, maker: true },
        u2: { ...member, member: false },
        u3: { ...member, member: false },
      }),
      env: { expectedOwnerGroupIds: ["makers"], autoOffboard: true },
      expected: ["ownerNotMember:u2"],
    },
    {
      what: "autoOffboard off: a co-owner who is not a member is a leaver, flagged once, not also as ownerNotMember",
      resource: process(),
      grants: [grant("u1", "owner"), grant("u2", "coOwner")],
      facts: facts({ u1: { ...member, maker: true }, u2: { ...member, member: false } }),
      expected: ["leaverNotOffboarded:u2"],
    },
    {
      what: "owners and co-owners without a maker role; a viewer needs none; unknown roles aren't judged",
      resource: flow(),
      grants: [grant("u1", "owner"), grant("u2", "owner"), grant("u3", "runOnly"), grant("u4", "owner")],
      facts: facts({
        u1: { ...member, maker: false },
        u2: { ...member, maker: true },
        u3: { ...member, maker: false },
        u4: member,
      }),
      env: { expectedOwnerGroupIds: ["makers"] },
      expected: ["ownerWithoutMakerRole:u1"],
    },
    {
      what: "a disabled owner without a maker role is flagged as disabled, not for the role",
      resource: process(),
      grants: [grant("u1", "owner"), grant("u2", "coOwner")],
      facts: facts({ u1: { ...member, maker: true }, u2: { ...disabled, maker: false } }),
      env: { expectedOwnerGroupIds: ["makers"], autoOffboard: true },
      expected: ["disabledUserGrant:u2"],
    },
    {
      what: "DLP: a flow with a non-business connector shared with a guest and run-only users, once",
      resource: flow({
        connections: [
          { id: "c1", connector: "SharePoint", ownerId: "u1", usage: "embedded" },
          { id: "c2", connector: "gmail", ownerId: "u1", usage: "embedded" },
        ],
      }),
      grants: [grant("u1", "owner"), grant("g1", "runOnly", "group"), grant("u3", "runOnly"), grant("u4", "owner")],
      facts: facts({ u1: member, u3: member, u4: { ...guest, groupIds: ["makers"] } }),
      env: { expectedOwnerGroupIds: ["makers"], dlp: { nonBusiness: ["Gmail"] } },
      expected: ["nonBusinessFlowShared:-", "guestOwner:u4"],
    },
    {
      what: "DLP: unlisted connectors are non-business under a policy",
      resource: flow({ connections: [{ id: "c1", connector: "Dropbox", ownerId: "u1", usage: "embedded" }] }),
      grants: [grant("u1", "owner"), grant("u3", "runOnly")],
      facts: facts({ u1: member, u3: member }),
      env: { expectedOwnerGroupIds: ["makers"], dlp: { business: ["SharePoint"] } },
      expected: ["nonBusinessFlowShared:-"],
    },
    {
      what: "DLP: business connectors only, an `other` non-business one, or no policy: nothing",
      resource: flow({
        connections: [
          { id: "c1", connector: "sharepoint", ownerId: "u1", usage: "embedded" },
          { id: "c2", connector: "Gmail", ownerId: "u1", usage: "other" },
        ],
      }),
      grants: [grant("u1", "owner"), grant("u3", "runOnly")],
      facts: facts({ u1: member, u3: member }),
      env: { expectedOwnerGroupIds: ["makers"], dlp: { business: ["SharePoint"] } },
      expected: [],
    },
    {
      what: "DLP: non-business connectors shared with member viewers and owners only: nothing",
      resource: flow({ connections: [{ id: "c1", connector: "Gmail", ownerId: "u1", usage: "embedded" }] }),
      grants: [grant("u1", "owner"), grant("u2", "owner")],
      facts: facts({ u1: member, u2: member }),
      env: { expectedOwnerGroupIds: ["makers"], dlp: { nonBusiness: ["Gmail"] } },
      expected: [],
    },
  ];

  it.each(rows)("$what", (row) => {
    const found = resourceFindings({ resource: row.resource, grants: row.grants }, row.env ?? env, row.facts);
    expect(rulesOf(found)).toEqual([...row.expected].sort());
    for (const f of found) {
      expect(f.resourceId).toBe(row.resource.resourceId);
      expect(f.detail.length).toBeLessThanOrEqual(1000);
    }
  });

  it("names the connectors and whom the flow is shared with in a DLP finding", () => {
    const r = flow({ connections: [{ id: "c1", connector: "Gmail", ownerId: "u1", usage: "embedded" }] });
    const [f] = resourceFindings(
      { resource: r, grants: [grant("u1", "owner"), grant("u3", "runOnly"), grant("g", "runOnly", "group")] },
      { expectedOwnerGroupIds: [], dlp: {} },
      facts({ u1: member, u3: member }),
    );
    expect(f).toMatchObject({ rule: "nonBusinessFlowShared", severity: "medium", resourceId: "r1" });
    expect(f?.detail).toContain('"Gmail"');
    expect(f?.detail).toContain("run-only user u3");
    expect(f?.detail).toContain("run-only group g");
  });

  it("asks for the users of the grants and of the embedded connections, once each", () => {
    const r = flow({
      connections: [
        { id: "c1", connector: "Outlook", ownerId: "u2", usage: "embedded" },
        { id: "c2", connector: "Outlook", ownerId: "u9", usage: "other" },
        { id: "c3", connector: "Outlook", ownerId: "u3", usage: "embedded" },
      ],
    });
    expect(usersToLookUp(r, [grant("u1", "owner"), grant("g", "viewer", "group"), grant("u2", "viewer")])).toEqual([
      "u1",
      "u2",
      "u3",
    ]);
  });
});

describe("owners added since the last audit", () => {
  const since = "2026-01-10T00:00:00.000Z";
  const until = "2026-01-20T00:00:00.000Z";
  let n = 0;
  const entry = (when: string, action: ChangeEntry["action"], role?: ChangeEntry["role"]): ChangeEntry => ({
    changeId: `c${n++}`,
    at: when,
    actorId: "admin",
    action,
    resourceId: "r1",
    principal: { type: "user", id: `p${n}` },
    ...(role ? { role } : {}),
    detail: "",
  });

  it("reports owner and co-owner grants and reassignments inside the window, and stops at `since`", () => {
    const page = [
      entry("2026-01-25T00:00:00.000Z", "grant", "owner"), // after this audit started
      entry("2026-01-15T00:00:00.000Z", "grant", "coOwner"),
      entry("2026-01-14T00:00:00.000Z", "grant", "viewer"),
      entry("2026-01-13T00:00:00.000Z", "reassign", "owner"),
      entry("2026-01-12T00:00:00.000Z", "revoke", "owner"),
      entry(since, "grant", "owner"), // the previous audit's own start: already reported then
      entry("2026-01-05T00:00:00.000Z", "grant", "owner"),
    ];
    const { findings, reachedSince } = ownersAddedFindings(page, since, until);
    expect(reachedSince).toBe(true);
    expect(findings.map((f) => f.detail.match(/made (\w+) .*\((\w+)\)$/)?.slice(1))).toEqual([
      ["coOwner", "grant"],
      ["owner", "reassign"],
    ]);
    expect(findings.every((f) => f.rule === "ownerAddedSinceLastAudit" && f.severity === "medium")).toBe(true);
  });

  it("says when the page didn't reach back to `since`", () => {
    const { findings, reachedSince } = ownersAddedFindings(
      [entry("2026-01-15T00:00:00.000Z", "grant", "owner")],
      since,
      until,
    );
    expect(reachedSince).toBe(false);
    expect(findings).toHaveLength(1);
  });
});

describe("the order of findings", () => {
  it("is worst first: severity, then the rule's place, then resource and principal", () => {
    const f = (rule: AuditRule, severity: Finding["severity"], resourceId?: string, principalId?: string): Finding => ({
      rule,
      severity,
      ...(resourceId ? { resourceId } : {}),
      ...(principalId ? { principalId } : {}),
      detail: "",
    });
    const sorted = [
      f("tooManyOwners", "low", "a"),
      f("guestOwner", "high", "b", "u2"),
      f("disabledUserGrant", "low", "a"),
      f("guestOwner", "high", "b", "u1"),
      f("noEnabledOwner", "high", "z"),
      f("ownerOutsideExpectedGroups", "medium", "a"),
    ].sort(compareFindings);
    expect(sorted.map((x) => `${x.rule}/${x.resourceId}/${x.principalId ?? ""}`)).toEqual([
      "noEnabledOwner/z/",
      "guestOwner/b/u1",
      "guestOwner/b/u2",
      "ownerOutsideExpectedGroups/a/",
      "disabledUserGrant/a/",
      "tooManyOwners/a/",
    ]);
  });
});
