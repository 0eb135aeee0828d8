import { describe, expect, it } from "vitest";
import { decide, type PrincipalFacts } from "../../shared/rules/decide.js";
import { actionNames, resourceKinds, verbsByKind } from "../../shared/rules/matrix.js";
import { spec, specRows } from "../support/ruleTable.js";

const member = (over: Partial<PrincipalFacts> = {}): PrincipalFacts => ({
  principalId: "u1",
  enabled: true,
  securityRoles: ["BasicUser"],
  memberOf: [],
  ...over,
});

const rows = specRows();

describe("the rule table: one row per kind × role × action", () => {
  it("covers every action of every kind", () => {
    for (const kind of resourceKinds)
      expect(Object.keys(spec[kind].rows).sort()).toEqual([...verbsByKind[kind]].sort());
    expect(rows.length).toBe(7 * 4 + 12 * 4 + 9 * 3);
    expect(new Set(actionNames).size).toBe(7 + 12 + 9);
  });

  it.each(rows)("$kind $holder $action → $allowed", ({ kind, holder, action, allowed }) => {
    const resource = { kind, triggerKind: "instant" as const };
    const decision =
      holder === "admin"
        ? decide(resource, [], member({ securityRoles: ["SystemAdministrator"] }))
        : decide(resource, [{ principalType: "user", principalId: "u1", role: holder }], member());
    expect(decision.actions.includes(action)).toBe(allowed);
  });
});

describe("decisions beyond the tables", () => {
  it("run-only users can't run automated flows", () => {
    const d = decide(
      { kind: "cloudFlow", triggerKind: "automated" },
      [{ principalType: "user", principalId: "u1", role: "runOnly" }],
      member(),
    );
    expect(d.actions).toEqual([]);
    expect(d.roles).toEqual(["runOnly"]);
  });

  it("a role through a group counts, and names the group", () => {
    const d = decide(
      { kind: "processMining" },
      [{ principalType: "group", principalId: "g1", role: "viewer" }],
      member({ memberOf: [{ type: "group", id: "g1" }] }),
    );
    expect(d.actions).toEqual([
      "processMining.viewDetails",
      "processMining.viewAnalytics",
      "processMining.viewSharing",
    ]);
    expect(d.via).toEqual([{ role: "viewer", through: { type: "group", id: "g1" } }]);
  });

  it("a group the user is not in gives nothing", () => {
    const d = decide(
      { kind: "processMining" },
      [{ principalType: "group", principalId: "g1", role: "viewer" }],
      member({ memberOf: [{ type: "group", id: "g2" }] }),
    );
    expect(d.actions).toEqual([]);
  });

  it("an admin granted a role keeps both the role and the admin rights", () => {
    const d = decide(
      { kind: "processMining" },
      [{ principalType: "user", principalId: "u1", role: "viewer" }],
      member({ securityRoles: ["SystemAdministrator"] }),
    );
    expect(d.roles).toEqual(["viewer"]);
    expect(d.via.map((v) => v.through)).toEqual(["direct", "admin"]);
    expect(d.actions).toContain("processMining.delete");
  });

  it("a disabled user can do nothing whatever roles they hold", () => {
    const d = decide(
      { kind: "processMining" },
      [{ principalType: "user", principalId: "u1", role: "owner" }],
      member({ enabled: false }),
    );
    expect(d.actions).toEqual([]);
    expect(d.limitation).toBe("disabled");
  });

  it("a member with no security role may only run flows (seed 004)", () => {
    const owner = [{ principalType: "user" as const, principalId: "u1", role: "owner" as const }];
    const flow = decide({ kind: "cloudFlow", triggerKind: "instant" }, owner, member({ securityRoles: [] }));
    expect(flow.actions).toEqual(["cloudFlow.run"]);
    expect(flow.limitation).toBe("noSecurityRole");
    const process = decide(
      { kind: "processMining" },
      [{ principalType: "user", principalId: "u1", role: "viewer" }],
      member({ securityRoles: [] }),
    );
    expect(process.actions).toEqual([]);
  });
});
