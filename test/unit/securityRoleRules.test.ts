import { describe, expect, it } from "vitest";
import { decide, explainRefusal, privilegeList, type PrincipalFacts } from "../../shared/rules/decide.js";
import { resourceKinds, verbsByKind } from "../../shared/rules/matrix.js";
import { actionsCatalog } from "../../shared/usecases/catalog.js";
import { sharePrivilegeRows, sharePrivilegeSpec } from "../support/ruleTable.js";

const member = (over: Partial<PrincipalFacts> = {}): PrincipalFacts => ({
  principalId: "u1",
  enabled: true,
  securityRoles: ["BasicUser", "pex"],
  memberOf: [],
  ...over,
});

const rows = sharePrivilegeRows();

describe("the share privilege of a custom security role: one row per privilege kind × kind × action", () => {
  it("covers every action of every kind, for a privilege on each kind", () => {
    for (const kind of resourceKinds)
      expect(Object.keys(sharePrivilegeSpec[kind]).sort()).toEqual([...verbsByKind[kind]].sort());
    expect(rows.length).toBe(3 * (7 + 12 + 9));
  });

  it.each(rows)("share on $privilegeOn: $kind $action → $allowed", ({ privilegeOn, kind, action, allowed }) => {
    const d = decide(
      { kind, triggerKind: "instant" },
      [],
      member({ privileges: [{ roleId: "pex", kind: privilegeOn, privilege: "share" }] }),
    );
    expect(d.actions.includes(action)).toBe(allowed);
  });
});

describe("decisions with custom roles", () => {
  it("names the role a privilege comes from, and gives no resource role", () => {
    const d = decide(
      { kind: "processMining" },
      [],
      member({ privileges: [{ roleId: "pex", kind: "processMining", privilege: "share" }] }),
    );
    expect(d.roles).toEqual([]);
    expect(d.via).toEqual([{ role: "securityRole.share", through: { type: "securityRole", id: "pex" } }]);
  });

  it("adds to the roles held on the resource", () => {
    const d = decide(
      { kind: "processMining" },
      [{ principalType: "user", principalId: "u1", role: "viewer" }],
      member({ privileges: [{ roleId: "pex", kind: "processMining", privilege: "share" }] }),
    );
    expect(d.actions).toEqual([
      "processMining.viewDetails",
      "processMining.viewAnalytics",
      "processMining.share",
      "processMining.viewSharing",
    ]);
  });

  it("gives nothing to a disabled or suspended member", () => {
    const privileges = [{ roleId: "pex", kind: "processMining" as const, privilege: "share" as const }];
    const disabled = decide({ kind: "processMining" }, [], member({ enabled: false, privileges }));
    const suspended = decide({ kind: "processMining" }, [], member({ suspended: true, privileges }));
    expect(disabled.actions).toEqual([]);
    expect(disabled.limitation).toBe("disabled");
    expect(suspended.actions).toEqual([]);
    expect(suspended.limitation).toBe("suspended");
  });

  it("says which role it went through when refusing more than the privilege", () => {
    const d = decide(
      { kind: "processMining" },
      [],
      member({ privileges: [{ roleId: "pex", kind: "processMining", privilege: "share" }] }),
    );
    expect(explainRefusal("processMining.delete", d, "processMining")).toBe(
      "processMining.delete is not allowed for securityRole.share (security role pex)",
    );
  });
});

describe("privilegeList: a membership's roles against the environment's defined roles", () => {
  const defined = {
    pex: { processMining: ["share" as const] },
    flows: { cloudFlow: ["share" as const], taskMining: ["share" as const] },
    none: {},
  };

  it("lists the privileges of the roles the membership names, and none for built-in or unknown ids", () => {
    expect(privilegeList(["SystemAdministrator", "pex", "gone", "none"], defined)).toEqual([
      { roleId: "pex", kind: "processMining", privilege: "share" },
    ]);
    expect(privilegeList(["flows"], defined)).toEqual([
      { roleId: "flows", kind: "taskMining", privilege: "share" },
      { roleId: "flows", kind: "cloudFlow", privilege: "share" },
    ]);
  });

  it("doesn't take inherited names for roles", () => {
    expect(privilegeList(["toString", "constructor", "__proto__"], defined)).toEqual([]);
  });
});

describe("GET /api/actions lists the privilege", () => {
  it("names share among the privileges allowing each action it gives, and leaves allowedFor to roles and admin", () => {
    const catalog = actionsCatalog();
    expect(catalog.privileges).toEqual(["share"]);
    for (const k of catalog.kinds) {
      for (const a of k.actions) {
        const verb = a.action.split(".")[1]!;
        expect(a.allowedForPrivileges).toEqual(sharePrivilegeSpec[k.kind][verb] === "y" ? ["share"] : []);
        expect(a.allowedFor).not.toContain("securityRole.share");
      }
    }
  });
});
