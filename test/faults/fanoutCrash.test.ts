/**
 * The app killed in the middle of a group's fan-out, members removed while it is down, and the app
 * restarted: every member's listing converges, no removed member keeps a row, and the invitation
 * sent beside the group share is emailed once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fanoutQueueName } from "../../shared/appContract.js";
import { patchGroupMembers } from "../../shared/usecases/directory.js";
import { rowsThroughGroup, seedUsers } from "../support/directorySeed.js";
import { mailTo, waitForMail } from "../support/mail.js";
import { eventually } from "../support/poll.js";
import { queueLength } from "../support/queues.js";
import { stackCaps } from "../support/stackCaps.js";
import { startStack, type Stack } from "../support/stack.js";
import { newWorld, uid } from "../support/world.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

describe("a group fan-out through a crash", () => {
  it("converges after the app is killed mid fan-out and members leave while it is down; nothing is emailed twice", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    await w.user("invitee", { roles: ["BasicUser"] });
    const prefix = uid("c");
    const ids = Array.from({ length: 2_000 }, (_, n) => `${prefix}-${n.toString().padStart(4, "0")}`);
    await seedUsers(stack, ids, { members: w.envId });
    const g = uid("g");
    const ref = { type: "group" as const, id: g };
    const put = await stack.api("PUT", `/api/environments/${w.envId}/groups/${g}`, {
      token: w.adminToken,
      body: { displayName: "Crash", kind: "securityGroup", memberIds: ids },
    });
    expect(put.status).toBe(201);
    const p = await w.resource("maker", { kind: "processMining" });
    expect((await w.share("maker", p, "viewer", [{ type: "group", id: g }])).status).toBe(201);
    expect(
      (await w.share("maker", p, "viewer", [{ type: "user", id: w.id("invitee") }], { sendInvitation: true })).status,
    ).toBe(201);

    // Kill the host as soon as the fan-out has reached some members.
    const sample = ids.filter((_, n) => n % 40 === 0);
    await eventually("the fan-out to reach a member", () => rowsThroughGroup(stack, w.envId, p, ref, sample), {
      until: (rows) => rows.size > 0,
      intervalMs: 10,
    });
    await stack.killHost();
    const atKill = await rowsThroughGroup(stack, w.envId, p, ref, ids);
    // Killed in the middle: some members have their row, not all (a fan-out of 2,000 takes longer).
    expect(atKill.size).toBeGreaterThan(0);
    expect(atKill.size).toBeLessThan(ids.length);

    // While the app is down, 200 members leave, through the use case in this process on the same
    // storage and queues (as another instance of the app would).
    const leavers = ids.slice(0, 200);
    const caps = stackCaps(stack);
    const left = await patchGroupMembers(caps, { principalId: "crash-app", appRoles: ["Sharing.Admin"] }, w.envId, g, {
      remove: leavers,
    });
    expect(left.removed).toHaveLength(200);

    await stack.restartHost();
    const staying = new Set(ids.slice(200));
    const final = await eventually(
      "every member's row in line with the group",
      () => rowsThroughGroup(stack, w.envId, p, ref, ids),
      {
        until: (rows) =>
          rows.size === staying.size && [...rows].every(([id, roles]) => staying.has(id) && roles === "viewer"),
        timeoutMs: 180_000,
        intervalMs: 500,
      },
    );
    expect(leavers.filter((id) => final.has(id))).toEqual([]);
    // Listings agree, through HTTP, for a member who stayed (they have no token here: an app asks).
    const listed = await stack.api("GET", `/api/environments/${w.envId}/principals/${ids[1_999]}/resources`, {
      token: w.adminToken,
    });
    expect(listed.json).toMatchObject({ resources: [{ resourceId: p, roles: ["viewer"] }] });

    // The invitation beside it: one email, also once the queues are empty after the restart.
    await waitForMail(stack, w.email("invitee"), 1, 60_000).catch((e: unknown) => {
      // What the mailer did, to tell a lost job from a slow one.
      console.log(
        stack
          .logs()
          .split("\n")
          .filter((l) => /mailer|email|invitation/i.test(l))
          .slice(-30)
          .join("\n"),
      );
      throw e;
    });
    await eventually("the fan-out queue to drain", async () => (await queueLength(stack, fanoutQueueName)) === 0, {
      until: (empty) => empty,
      timeoutMs: 60_000,
    });
    expect(mailTo(stack, w.email("invitee"))).toHaveLength(1);
  }, 600_000);
});
