import { describe, expect, it } from "vitest";
import type { Grant, Resource } from "../../shared/model/records.js";
import { chooseSuccessor, coOwnersByTenure } from "../../shared/rules/successor.js";
import { putEnvironment, putUser } from "../../shared/usecases/directory.js";
import { putResource } from "../../shared/usecases/resources.js";
import { share, sharedWith } from "../../shared/usecases/sharing.js";
import { getOffboarding, offboardStep } from "../../shared/usecases/offboarding.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import { memoryCaps, seedDirectory } from "../support/memoryCaps.js";

const at = (minute: number) => `2026-01-01T00:${String(minute).padStart(2, "0")}:00.000Z`;
const grant = (
  principalId: string,
  role: Grant["role"],
  minute: number,
  principalType: Grant["principalType"] = "user",
) => ({ principalType, principalId, role, grantedBy: "x", grantedAt: at(minute) }) satisfies Grant;
const process = { kind: "processMining" } as Pick<Resource, "kind">;
const flow = { kind: "cloudFlow" } as Pick<Resource, "kind">;

describe("the successor chain", () => {
  it("orders co-owners by grant time, oldest first: coOwner grants of processes, other owners of flows", () => {
    const grants = [
      grant("leaver", "owner", 0),
      grant("late", "coOwner", 9),
      grant("early", "coOwner", 1),
      grant("tie-b", "coOwner", 5),
      grant("tie-a", "coOwner", 5),
      grant("viewer", "viewer", 0),
      grant("group", "coOwner", 0, "group"),
      grant("flowOwner", "owner", 3),
    ];
    expect(coOwnersByTenure(process, grants, "leaver")).toEqual(["early", "tie-a", "tie-b", "late"]);
    expect(coOwnersByTenure(flow, grants, "leaver")).toEqual(["flowOwner"]);
  });

  const able = (ids: string[]) => async (id: string) => ids.includes(id);
  const rows: {
    what: string;
    input: Parameters<typeof chooseSuccessor>[0];
    canOwn: string[];
    expected: Awaited<ReturnType<typeof chooseSuccessor>>;
  }[] = [
    {
      what: "the named successor comes first",
      input: { leaverId: "l", namedId: "n", coOwners: ["c"], defaultSuccessorId: "d" },
      canOwn: ["n", "c", "d"],
      expected: { to: "n", via: "named" },
    },
    {
      what: "a named successor who can no longer own falls through to the co-owners",
      input: { leaverId: "l", namedId: "n", coOwners: ["c"], defaultSuccessorId: "d" },
      canOwn: ["c", "d"],
      expected: { to: "c", via: "coOwner" },
    },
    {
      what: "the longest-standing co-owner able to own, passing over those who can't",
      input: { leaverId: "l", coOwners: ["guest", "basic", "c2", "c3"], defaultSuccessorId: "d" },
      canOwn: ["c2", "c3", "d"],
      expected: { to: "c2", via: "coOwner" },
    },
    {
      what: "no co-owner able to own: the environment's default successor",
      input: { leaverId: "l", coOwners: ["basic"], defaultSuccessorId: "d" },
      canOwn: ["d"],
      expected: { to: "d", via: "defaultSuccessor" },
    },
    {
      what: "a default successor who can't own: nobody (ownerless)",
      input: { leaverId: "l", coOwners: [], defaultSuccessorId: "d" },
      canOwn: [],
      expected: undefined,
    },
    {
      what: "no link at all: nobody",
      input: { leaverId: "l", coOwners: [] },
      canOwn: ["l"],
      expected: undefined,
    },
    {
      what: "the leaver is never their own successor, even as the default",
      input: { leaverId: "l", namedId: "l", coOwners: ["l"], defaultSuccessorId: "l" },
      canOwn: ["l"],
      expected: undefined,
    },
  ];
  it.each(rows)("$what", async (row) => {
    expect(await chooseSuccessor(row.input, able(row.canOwn))).toEqual(row.expected);
  });
});

describe("automatic offboarding on the fan-out queue", () => {
  const app: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
  const as = (id: string): Caller => ({ principalId: id, appRoles: [] });

  it("starts when a user is disabled, continues step by step, and a duplicate start does nothing", async () => {
    const m = memoryCaps();
    const c = m.caps;
    await seedDirectory(c, "e1", [
      ["leaver", true, ["EnvironmentMaker"]],
      ["co", true, ["EnvironmentMaker"]],
      ["heir", true, ["EnvironmentMaker"]],
    ]);
    await putEnvironment(c, app, {
      envId: "e1",
      displayName: "E1",
      isDefault: false,
      sensitive: false,
      expectedOwnerGroupIds: [],
      sovereignCloud: false,
      autoOffboard: true,
      defaultSuccessorId: "heir",
    });
    const ids = ["p1", "p2", "p3", "p4", "p5"];
    for (const id of ids)
      await putResource(c, app, "e1", id, { kind: "processMining", displayName: id, creatorId: "leaver" }, undefined);
    await share(c, as("leaver"), "e1", "p1", {
      role: "coOwner",
      principals: [{ type: "user", id: "co" }],
      sendInvitation: false,
    });
    await putResource(c, app, "e1", "q1", { kind: "processMining", displayName: "q1", creatorId: "co" }, undefined);
    await share(c, as("co"), "e1", "q1", {
      role: "viewer",
      principals: [{ type: "user", id: "leaver" }],
      sendInvitation: false,
    });

    await putUser(c, app, {
      userId: "leaver",
      email: "leaver@x.test",
      displayName: "leaver",
      userType: "member",
      enabled: false,
      license: "paid",
    });
    // The profile's relay queued one offboard message; one small step of it leaves the run going.
    expect(m.fanout).toEqual([{ type: "offboard", envId: "e1", userId: "leaver", reason: "disabled" }]);
    const first = m.fanout.shift()!;
    if (first.type !== "offboard") throw new Error("not an offboard message");
    expect(await offboardStep(c, first, { budgetMs: 0, pageSize: 2 })).toMatch(/: running$/);
    expect(m.fanout).toHaveLength(1);
    const next = m.fanout[0]!;
    expect(next).toMatchObject({ type: "offboard", offboardingId: expect.any(String) });
    await m.drainFanout();

    const offboardingId = next.type === "offboard" ? next.offboardingId! : "";
    const run = await getOffboarding(c, app, "e1", offboardingId, {});
    expect(run).toMatchObject({ status: "done", trigger: "disabled", actorId: "system", userId: "leaver" });
    // The summary entry raised its webhook event, once, under the entry's id.
    const offboarded = m.webhooks
      .map((w) => w.message)
      .filter((w) => w.kind === "event" && w.event.type === "sharing.user.offboarded");
    expect(offboarded).toEqual([
      expect.objectContaining({
        event: expect.objectContaining({ id: `offboarding.${offboardingId}`, subject: "users/leaver" }),
      }),
    ]);
    expect(run.items.map((i) => [i.resourceId, i.outcome, i.to ?? "-"])).toEqual([
      ["p1", "transferred", "co"],
      ["p2", "transferred", "heir"],
      ["p3", "transferred", "heir"],
      ["p4", "transferred", "heir"],
      ["p5", "transferred", "heir"],
      ["q1", "revoked", "-"],
    ]);
    for (const id of [...ids, "q1"]) {
      const shares = await sharedWith(c, app, "e1", id);
      expect(shares.grants.filter((g) => g.principalId === "leaver")).toEqual([]);
    }
    expect((await sharedWith(c, app, "e1", "p1")).grants.map((g) => `${g.principalId}:${g.role}`)).toEqual([
      "co:owner",
    ]);
    // Five new-owner emails, one per transferred resource.
    expect(
      m.sent
        .filter((j) => j.kind === "newOwner")
        .map((j) => (j.kind === "newOwner" ? j.resourceId : ""))
        .sort(),
    ).toEqual(ids);

    // The same start again (a sweeper's second relay): the leaver holds nothing, so no new run.
    await offboardStep(c, first);
    expect((await c.offboardings.current("e1", "leaver"))?.offboardingId).toBe(offboardingId);
  });
});
