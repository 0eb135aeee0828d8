/**
 * Access reviews through HTTP on the local host with Azurite: a definition by owners with a fallback
 * reviewer, an instance started and snapshotted within the request, items per reviewer, and
 * decisions by API with their refusals and the instance's counts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/poll.js";
import { startStack, type Stack } from "../support/stack.js";
import { expectProblem, expectStatus, newWorld } from "../support/world.js";

interface Item {
  itemId: string;
  resourceId: string;
  principal: { type: string; id: string };
  role: string;
  decision?: string;
  decidedBy?: string;
  justification?: string;
  reviewers?: string[];
}
interface Instance {
  phase: string;
  status: string;
  counts: { items: number; approve: number; deny: number; dontKnow: number; undecided: number };
}

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe("access reviews, through HTTP", () => {
  it("snapshots owners' items with a fallback reviewer, and takes decisions by API with their refusals", async () => {
    const w = await newWorld(stack);
    await w.user("alice");
    await w.user("bob");
    await w.user("gone");
    await w.user("fb", { roles: ["BasicUser"] });
    const viewer = await w.user("viewer", { roles: ["BasicUser"] });
    await w.user("stranger", { roles: ["BasicUser"] });
    const mining = { kind: "processMining", analyticsReady: true };
    const r1 = await w.resource("alice", mining);
    const r2 = await w.resource("bob", mining);
    const r3 = await w.resource("gone", mining);
    for (const [who, r] of [
      ["alice", r1],
      ["bob", r2],
      ["gone", r3],
    ] as const)
      expect((await w.share(who, r, "viewer", [{ type: "user", id: viewer }])).status).toBe(201);
    // The owner of r3 leaves: nobody enabled owns it, so its items go to the fallback reviewer.
    await w.updateUser("gone", { enabled: false });

    const base = `/api/environments/${w.envId}/reviews`;
    const admin = { token: w.adminToken };
    const definition = {
      displayName: "Quarterly viewers",
      scope: { roles: ["viewer"], principalTypes: ["user"] },
      reviewers: "owners",
      fallbackReviewerIds: [w.id("fb")],
      durationDays: 7,
      justificationRequired: true,
    };
    const unknownFallback = await stack.api("PUT", `${base}/q1`, {
      ...admin,
      body: { ...definition, fallbackReviewerIds: [w.id("fb"), "nobody-here"] },
    });
    expectProblem(unknownFallback, 400);
    expect(JSON.stringify(unknownFallback.json)).toContain("body.fallbackReviewerIds[1]");
    await expectStatus(stack, 201, "PUT", `${base}/q1`, { ...admin, body: definition });
    await expectStatus(stack, 200, "PUT", `${base}/q1`, { ...admin, body: definition });
    expectProblem(await w.as("alice", "PUT", `reviews/q1`, definition), 403);
    const listed = await expectStatus(stack, 200, "GET", base, admin);
    expect((listed.json as { items: { reviewId: string }[] }).items.map((d) => d.reviewId)).toEqual(["q1"]);
    expectProblem(await stack.api("POST", `${base}/nope/instances`, admin), 404);

    const started = await expectStatus(stack, 202, "POST", `${base}/q1/instances`, admin);
    const { instanceId } = started.json as { instanceId: string };
    expect((await expectStatus(stack, 200, "GET", `${base}/q1`, admin)).json).toMatchObject({
      latestInstanceId: instanceId,
    });
    const at = `${base}/q1/instances/${instanceId}`;
    const instance = async () => (await expectStatus(stack, 200, "GET", at, admin)).json as Instance;
    const snapshotted = await eventually("the snapshot", instance, {
      until: (i) => i.phase !== "snapshot",
    });
    expect(snapshotted.status).toBe("inProgress");
    expect(snapshotted.counts).toEqual({ items: 3, approve: 0, deny: 0, dontKnow: 0, undecided: 3 });

    // Items per reviewer: each owner sees their resource's item, the fallback reviewer the ownerless one.
    const itemsOf = async (who: string, query = "") => {
      const r = await w.as(who, "GET", `reviews/q1/instances/${instanceId}/items${query}`);
      expect(r.status, r.text).toBe(200);
      return (r.json as { items: Item[] }).items;
    };
    const aliceItems = await itemsOf("alice");
    expect(aliceItems.map((i) => [i.resourceId, i.principal.id, i.role])).toEqual([[r1, viewer, "viewer"]]);
    expect((await itemsOf("bob")).map((i) => i.resourceId)).toEqual([r2]);
    expect(await itemsOf("fb")).toEqual([]);
    const fbItems = await itemsOf("fb", "?reviewerId=fallback");
    expect(fbItems.map((i) => i.resourceId)).toEqual([r3]);
    expectProblem(
      await w.as("stranger", "GET", `reviews/q1/instances/${instanceId}/items?reviewerId=u.${w.id("alice")}`),
      403,
    );
    const all = (await expectStatus(stack, 200, "GET", `${at}/items`, admin)).json as { items: Item[] };
    expect(all.items.map((i) => i.reviewers).sort()).toEqual(
      [[`u.${w.id("alice")}`], [`u.${w.id("bob")}`], ["fallback"]].sort(),
    );

    // Decisions and their refusals.
    const decide = (who: string, decisions: unknown[]) =>
      w.as(who, "POST", `reviews/q1/instances/${instanceId}/decisions`, { decisions });
    const a = aliceItems[0]!.itemId;
    const noWhy = await decide("alice", [{ itemId: a, decision: "deny" }]);
    expectProblem(noWhy, 400);
    expect(JSON.stringify(noWhy.json)).toContain("body.decisions[0].justification");
    expectProblem(await decide("bob", [{ itemId: a, decision: "approve", justification: "mine" }]), 403);
    expectProblem(await decide("alice", [{ itemId: "i-unknown", decision: "deny", justification: "x" }]), 404);
    expectProblem(await decide("alice", [{ itemId: a, decision: "maybe", justification: "x" }]), 400);
    const denied = await decide("alice", [{ itemId: a, decision: "deny", justification: "left the project" }]);
    expect(denied.status, denied.text).toBe(200);
    expect(denied.json).toMatchObject({
      decided: 1,
      items: [{ itemId: a, decision: "deny", decidedBy: w.id("alice"), justification: "left the project" }],
    });
    const fbOk = await decide("fb", [{ itemId: fbItems[0]!.itemId, decision: "approve", justification: "needed" }]);
    expect(fbOk.status, fbOk.text).toBe(200);
    const bobItem = (await itemsOf("bob"))[0]!.itemId;
    expect((await decide("bob", [{ itemId: bobItem, decision: "dontKnow", justification: "ask" }])).status).toBe(200);

    expect((await instance()).counts).toEqual({ items: 3, approve: 1, deny: 1, dontKnow: 1, undecided: 0 });
    // Decided items stay on the reviewer's list, with their decision.
    expect((await itemsOf("alice")).map((i) => i.decision)).toEqual(["deny"]);
  });
});
