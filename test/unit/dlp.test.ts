import { describe, expect, it } from "vitest";
import { environmentBody } from "../../shared/model/api.js";
import { dlpPolicySchema, maxConnectorsPerClass, type DlpPolicy } from "../../shared/model/dlp.js";
import type { Connection } from "../../shared/model/records.js";
import { classOf, dlpViolation, nonBusinessConnectors } from "../../shared/rules/dlp.js";
import { fieldErrors } from "../../shared/adapters/http/parse.js";

// Data loss prevention alone: the policy's validation and how a flow's connections are judged.

const policy: DlpPolicy = {
  business: ["SharePoint", "Office 365 Outlook"],
  nonBusiness: ["Gmail"],
  blocked: ["Twitter"],
};
let n = 0;
const conn = (connector: string, usage: Connection["usage"] = "embedded"): Connection => ({
  id: `c${n++}`,
  connector,
  ownerId: "u1",
  usage,
});

describe("a policy's classes", () => {
  it.each([
    ["SharePoint", "business"],
    ["sharepoint", "business"],
    ["  OFFICE 365 outlook ", "business"],
    ["gmail", "nonBusiness"],
    ["Twitter", "blocked"],
    // Unlisted: the default group, non-business, as in Power Platform.
    ["Dropbox", "nonBusiness"],
  ])("%s is %s", (connector, cls) => {
    expect(classOf(policy, connector)).toBe(cls);
  });
});

describe("judging a flow's connections", () => {
  const rows: {
    what: string;
    policy?: DlpPolicy;
    connections: Connection[];
    expected?: { blocked: string[]; business: string[]; nonBusiness: string[] };
  }[] = [
    { what: "no policy: anything goes", connections: [conn("Twitter"), conn("SharePoint"), conn("Gmail")] },
    { what: "business only", policy, connections: [conn("SharePoint"), conn("office 365 outlook")] },
    { what: "non-business only, unlisted included", policy, connections: [conn("Gmail"), conn("Dropbox")] },
    { what: "no connections", policy, connections: [] },
    {
      what: "a blocked connector",
      policy,
      connections: [conn("twitter"), conn("Gmail")],
      expected: { blocked: ["twitter"], business: [], nonBusiness: [] },
    },
    {
      what: "business mixed with non-business, each connector named once",
      policy,
      connections: [conn("SharePoint"), conn("Gmail"), conn("GMAIL"), conn("Dropbox")],
      expected: { blocked: [], business: ["SharePoint"], nonBusiness: ["Gmail", "Dropbox"] },
    },
    {
      what: "blocked and mixing at once",
      policy,
      connections: [conn("Twitter"), conn("SharePoint"), conn("Gmail")],
      expected: { blocked: ["Twitter"], business: ["SharePoint"], nonBusiness: ["Gmail"] },
    },
    {
      what: "connections under `other` are not used by the flow, so they don't count",
      policy,
      connections: [conn("SharePoint"), conn("Gmail", "other"), conn("Twitter", "other")],
    },
    {
      what: "an empty policy: every connector non-business, so nothing mixes",
      policy: {},
      connections: [conn("SharePoint"), conn("Gmail")],
    },
  ];
  it.each(rows)("$what", ({ policy: p, connections, expected }) => {
    const v = dlpViolation(p, connections);
    if (!expected) {
      expect(v).toBeUndefined();
      return;
    }
    expect(v).toMatchObject(expected);
    for (const name of [...expected.blocked, ...expected.business, ...expected.nonBusiness])
      expect(v?.message).toContain(`"${name}"`);
  });

  it("lists the non-business connectors a flow uses, none without a policy", () => {
    const connections = [conn("SharePoint"), conn("Gmail"), conn("Dropbox"), conn("Teams", "other")];
    expect(nonBusinessConnectors(policy, connections)).toEqual(["Gmail", "Dropbox"]);
    expect(nonBusinessConnectors(undefined, connections)).toEqual([]);
  });
});

describe("validating a policy", () => {
  const errorsOf = (body: unknown) => {
    const r = environmentBody.safeParse({ displayName: "Env", dlp: body });
    return r.success ? [] : fieldErrors("body", r.error).map((e) => e.field);
  };

  it("takes a policy with each connector once", () => {
    expect(dlpPolicySchema.parse(policy)).toEqual(policy);
    expect(errorsOf(policy)).toEqual([]);
  });

  it("refuses a connector in two classes, in any case, naming the second place", () => {
    expect(errorsOf({ business: ["SharePoint"], blocked: ["x", "sharepoint"] })).toEqual(["body.dlp.blocked[1]"]);
    const r = dlpPolicySchema.safeParse({ business: ["Gmail"], nonBusiness: ["GMAIL"] });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toContain("business[0]");
  });

  it("refuses a connector listed twice in one class", () => {
    expect(errorsOf({ nonBusiness: ["Gmail", " gmail "] })).toEqual(["body.dlp.nonBusiness[1]"]);
  });

  it("refuses more than the bound per class, empty or overlong names, control characters and unknown fields", () => {
    const many = Array.from({ length: maxConnectorsPerClass + 1 }, (_, i) => `c${i}`);
    expect(errorsOf({ business: many })).toEqual(["body.dlp.business"]);
    expect(errorsOf({ business: Array.from({ length: maxConnectorsPerClass }, (_, i) => `c${i}`) })).toEqual([]);
    expect(errorsOf({ blocked: [""] })).toEqual(["body.dlp.blocked[0]"]);
    expect(errorsOf({ blocked: ["x".repeat(101)] })).toEqual(["body.dlp.blocked[0]"]);
    expect(errorsOf({ blocked: ["a\u0001b"] })).toEqual(["body.dlp.blocked[0]"]);
    expect(errorsOf({ blocked: ['a"b'] })).toEqual(["body.dlp.blocked[0]"]);
    expect(errorsOf({ custom: ["x"] })).toEqual(["body.dlp"]);
  });
});
