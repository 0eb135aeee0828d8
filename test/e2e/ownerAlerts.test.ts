import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mailTo, waitForMail, waitForSubject } from "../support/mail.js";
import { startStack, type Stack } from "../support/stack.js";
import { expectStatus, newWorld } from "../support/world.js";

/** Regex-safe text. */
const literal = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));

describe("a sensitive environment's owner alerts on a reassignment and a group join, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("a reassignment alerts the admins once per resource it moves, and posting it again sends nothing more", async () => {
    const w = await newWorld(stack, { sensitive: true });
    await w.user("admin", { roles: ["SystemAdministrator"] });
    const leaver = await w.user("leaver");
    const heir = await w.user("heir");
    const other = await w.user("other");
    const p1 = await w.resource("leaver", { kind: "processMining" });
    const p2 = await w.resource("leaver", { kind: "processMining" });
    const post = async () =>
      (
        await expectStatus(stack, 200, "POST", `/api/environments/${w.envId}/reassignments`, {
          token: w.adminToken,
          body: { fromUserId: leaver, toUserId: heir },
        })
      ).json as { status: string; reassigned: { resourceId: string }[] };
    const r = await post();
    expect(r.status).toBe("done");
    expect(r.reassigned.map((x) => x.resourceId).sort()).toEqual([p1, p2].sort());
    const mails = await waitForMail(stack, w.email("admin"), 2);
    for (const p of [p1, p2]) {
      const m = mails.find((x) => x.subject.includes(`Resource ${p}`));
      expect(m?.subject).toContain(`${w.person("heir").email}) was made an owner of the process mining process`);
      expect(m?.plainText).toContain("by reassigning a user's records");
    }
    expect((await post()).status).toBe("done");
    // A later alert as a marker: once it is in, a repeat of the reassignment's would be too.
    await w.share("heir", p1, "coOwner", [{ type: "user", id: other }]);
    await waitForSubject(stack, w.email("admin"), literal(`${w.person("other").email}) was made a co-owner`));
    expect(mailTo(stack, w.email("admin")).filter((m) => /was made an owner/.test(m.subject))).toHaveLength(2);
  });

  it("a member who joins a group holding co-owner is named in one alert; the share named the group once", async () => {
    const w = await newWorld(stack, { sensitive: true });
    await w.user("admin", { roles: ["SystemAdministrator"] });
    await w.user("maker");
    await w.user("j1", { roles: ["BasicUser"] });
    const j2 = await w.user("j2", { roles: ["BasicUser"] });
    const process = await w.resource("maker", { kind: "processMining" });
    await w.group("fin", ["j1"], "securityGroup", "Finance");
    expect((await w.share("maker", process, "coOwner", [{ type: "group", id: "fin" }])).status).toBe(201);
    const [shared] = await waitForMail(stack, w.email("admin"), 1);
    expect(shared!.subject).toContain("Finance (security group) was made a co-owner");

    const members = `/api/environments/${w.envId}/groups/fin/members`;
    await expectStatus(stack, 200, "PATCH", members, { token: w.adminToken, body: { add: [j2] } });
    const joined = await waitForSubject(
      stack,
      w.email("admin"),
      literal(`${w.person("j2").email}) was made a co-owner`),
    );
    expect(joined.plainText).toContain("added them to Finance (security group), which holds that role");
    // The same whole membership again changes nothing and alerts nobody; a new member is the marker.
    await w.group("fin", ["j1", "j2"], "securityGroup", "Finance");
    await w.user("j3", { roles: ["BasicUser"] });
    await w.group("fin", ["j1", "j2", "j3"], "securityGroup", "Finance");
    await waitForSubject(stack, w.email("admin"), literal(`${w.person("j3").email}) was made a co-owner`));
    const all = mailTo(stack, w.email("admin")).map((m) => m.subject);
    expect(all).toHaveLength(3);
    expect(all.filter((s) => s.includes(w.person("j1").email))).toEqual([]);
    expect(all.filter((s) => s.includes(w.person("j2").email))).toHaveLength(1);
  });
});
