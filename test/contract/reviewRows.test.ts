/**
 * The Reviews table's rows (`shared/store/reviewRows.ts`) on the in-memory fake and on Azurite alike:
 * ETags, the reviewer index ordering and paging, and the decision transaction.
 */
import { describe, expect, it } from "vitest";
import { ConcurrencyError } from "../../shared/errors.js";
import type { ReviewDefinition, ReviewInstance, ReviewItem } from "../../shared/model/reviews.js";
import { reviewKeys, type ItemChange } from "../../shared/store/reviewRows.js";
import { backends, quietCaps } from "../support/backends.js";

const at = "2026-01-01T00:00:00.000Z";
const definition: ReviewDefinition = {
  reviewId: "rv1",
  envId: "e1",
  displayName: "Owners review",
  scope: {},
  reviewers: "owners",
  durationDays: 7,
  createdAt: at,
  updatedAt: at,
  updatedBy: "admin",
};
const run = (over: Partial<ReviewInstance> = {}): ReviewInstance => ({
  envId: "e1",
  reviewId: "rv1",
  instanceId: "i1",
  status: "inProgress",
  phase: "open",
  trigger: "request",
  startedBy: "admin",
  createdAt: at,
  endsAt: "2026-01-08T00:00:00.000Z",
  remindAt: "2026-01-04T12:00:00.000Z",
  definition,
  counts: { items: 0, approve: 0, deny: 0, dontKnow: 0, undecided: 0 },
  applyCounts: { applied: 0, alreadyGone: 0, failed: 0 },
  ...over,
});
const item = (n: number, reviewers: ReviewItem["reviewers"], over: Partial<ReviewItem> = {}): ReviewItem => ({
  itemId: `it${n.toString().padStart(4, "0")}`,
  resourceId: `res${n % 7}`,
  kind: "cloudFlow",
  resourceName: `App ${n}`,
  principal: { type: "user", id: `p${n}` },
  role: "viewer",
  since: at,
  grantedBy: "admin",
  via: "direct",
  reviewers,
  ...over,
});

describe.each(backends())("review rows on '$name'", (backend) => {
  it("keeps definitions under their ETag and pages them", async () => {
    const r = quietCaps(backend.make()).reviews;
    await r.putDefinition(definition, undefined);
    await expect(r.putDefinition(definition, undefined)).rejects.toBeInstanceOf(ConcurrencyError);
    const read = (await r.getDefinition("e1", "rv1"))!;
    expect(read.definition).toEqual(definition);
    await r.putDefinition({ ...definition, displayName: "Renamed" }, read.etag);
    await expect(r.putDefinition({ ...definition, displayName: "Stale" }, read.etag)).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    await r.putDefinition({ ...definition, reviewId: "rv2" }, undefined);
    const first = await r.definitionsPage("e1", undefined, 1);
    expect(first.definitions.map((d) => d.reviewId)).toEqual(["rv1"]);
    expect(first.definitions[0]!.displayName).toBe("Renamed");
    const second = await r.definitionsPage("e1", first.continuation, 1);
    expect(second.definitions.map((d) => d.reviewId)).toEqual(["rv2"]);
    expect((await r.definitionsPage("e2", undefined, 10)).definitions).toEqual([]);
  });

  it("creates an instance once, with its open row, and lists recurring starts that are due", async () => {
    const r = quietCaps(backend.make()).reviews;
    expect(await r.createInstance(run())).toBe(true);
    expect(await r.createInstance(run({ startedBy: "someone else" }))).toBe(false);
    expect((await r.getRun("e1", "rv1", "i1"))!.run.startedBy).toBe("admin");
    expect((await r.openPage(undefined)).rows).toEqual([{ envId: "e1", reviewId: "rv1", instanceId: "i1" }]);
    expect((await r.instancesPage("e1", "rv1", undefined, 10)).instances).toEqual([
      { instanceId: "i1", createdAt: at },
    ]);
    await r.deleteOpen({ envId: "e1", reviewId: "rv1", instanceId: "i1" });
    expect((await r.openPage(undefined)).rows).toEqual([]);

    const read = (await r.getRun("e1", "rv1", "i1"))!;
    const etag = await r.putRun({ ...read.run, phase: "notify" }, read.etag);
    await expect(r.putRun({ ...read.run, phase: "open" }, read.etag)).rejects.toBeInstanceOf(ConcurrencyError);
    await r.putRun({ ...read.run, phase: "open" }, etag);

    await r.putRecur({ envId: "e1", reviewId: "rv1", nextStartAt: "2026-02-01T00:00:00.000Z" });
    await r.putRecur({ envId: "e1", reviewId: "rv2", nextStartAt: "2026-03-01T00:00:00.000Z" });
    const due = await r.dueRecurPage(new Date("2026-02-01T00:00:00.000Z"), undefined);
    expect(due.rows.map((d) => d.reviewId)).toEqual(["rv1"]);
    await r.deleteRecur(due.rows[0]!);
    expect((await r.dueRecurPage(new Date("2026-04-01T00:00:00.000Z"), undefined)).rows.map((d) => d.reviewId)).toEqual(
      ["rv2"],
    );
  });

  it("writes items in transactions of at most 100 operations, idempotently, and pages them", async () => {
    const r = quietCaps(backend.make()).reviews;
    await r.createInstance(run());
    const items = Array.from({ length: 120 }, (_, n) => item(n, n % 2 ? ["u.alice", "u.bob"] : ["fallback"]));
    const first = await r.putItems("e1", "rv1", "i1", items, ["u.alice", "u.bob", "fallback"]);
    // 60 items of 3 operations, 60 of 2, and three reviewer rows.
    expect(first.rows).toBe(303);
    expect(first.transactions).toBeGreaterThanOrEqual(4);
    await r.putItems("e1", "rv1", "i1", items, ["u.alice", "u.bob", "fallback"]);
    const seen: string[] = [];
    let c: string | undefined;
    do {
      const p = await r.itemsPage("e1", "rv1", "i1", c, 50);
      seen.push(...p.items.map((i) => i.itemId));
      c = p.continuation;
    } while (c);
    expect(seen).toEqual(items.map((i) => i.itemId));
    expect((await r.getItem("e1", "rv1", "i1", "it0003"))!.item).toEqual(items[3]);
    expect(await r.getItem("e1", "rv1", "i1", "nope")).toBeUndefined();
    expect((await r.reviewersPage("e1", "rv1", "i1", undefined)).reviewerKeys.sort()).toEqual([
      "fallback",
      "u.alice",
      "u.bob",
    ]);
  });

  it("moves index rows on a decision in one transaction, lists undecided first, and refuses a stale ETag", async () => {
    const r = quietCaps(backend.make()).reviews;
    await r.createInstance(run({ counts: { items: 5, approve: 0, deny: 0, dontKnow: 0, undecided: 5 } }));
    const items = Array.from({ length: 5 }, (_, n) => item(n, ["u.alice", "admins"]));
    await r.putItems("e1", "rv1", "i1", items, ["u.alice", "admins"]);
    expect(await r.hasUndecided("e1", "rv1", "i1", "u.alice")).toBe(true);

    const runRead = (await r.getRun("e1", "rv1", "i1"))!;
    const changes: ItemChange[] = [];
    for (const id of ["it0000", "it0003"]) {
      const got = (await r.getItem("e1", "rv1", "i1", id))!;
      changes.push({
        before: got.item,
        etag: got.etag,
        after: { ...got.item, decision: "deny", decidedBy: "alice", decidedAt: at },
      });
    }
    const counts = { ...runRead.run.counts, deny: 2, undecided: 3 };
    const newEtag = await r.decide({ ...runRead.run, counts }, runRead.etag, changes);
    expect((await r.getRun("e1", "rv1", "i1"))!.etag).toBe(newEtag);
    expect((await r.getRun("e1", "rv1", "i1"))!.run.counts.deny).toBe(2);

    // Undecided first (it0001, it0002, it0004), then decided; two at a time.
    const order: string[] = [];
    let c: string | undefined;
    do {
      const p = await r.reviewerPage("e1", "rv1", "i1", "u.alice", c, 2);
      expect(p.items.length).toBeLessThanOrEqual(2);
      order.push(...p.items.map((i) => `${i.itemId}:${i.decision ?? "-"}`));
      c = p.continuation;
    } while (c);
    expect(order.slice(0, 3).sort()).toEqual(["it0001:-", "it0002:-", "it0004:-"]);
    expect(order.slice(3).sort()).toEqual(["it0000:deny", "it0003:deny"]);
    const admins = await r.reviewerPage("e1", "rv1", "i1", "admins", undefined, 50);
    expect(admins.items).toHaveLength(5);
    expect(admins.continuation).toBeUndefined();

    // A second decision with the ETags read before the first: nothing of it is written.
    const stale = changes.map((ch) => ({
      ...ch,
      before: ch.after,
      after: { ...ch.after, decision: "approve" as const },
    }));
    await expect(r.decide({ ...runRead.run, counts }, newEtag, stale)).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await r.getItem("e1", "rv1", "i1", "it0000"))!.item.decision).toBe("deny");
    // Changing a decision keeps the row on the decided side and rewrites its copy.
    const again = (await r.getItem("e1", "rv1", "i1", "it0000"))!;
    const run2 = (await r.getRun("e1", "rv1", "i1"))!;
    await r.decide(run2.run, run2.etag, [
      { before: again.item, etag: again.etag, after: { ...again.item, decision: "approve" } },
    ]);
    const decided = (await r.reviewerPage("e1", "rv1", "i1", "admins", undefined, 50)).items.filter((i) => i.decision);
    expect(decided.map((i) => `${i.itemId}:${i.decision}`).sort()).toEqual(["it0000:approve", "it0003:deny"]);

    // Every item decided: no undecided row is left for the key.
    for (const id of ["it0001", "it0002", "it0004"]) {
      const got = (await r.getItem("e1", "rv1", "i1", id))!;
      const rr = (await r.getRun("e1", "rv1", "i1"))!;
      await r.decide(rr.run, rr.etag, [
        { before: got.item, etag: got.etag, after: { ...got.item, decision: "dontKnow" } },
      ]);
    }
    expect(await r.hasUndecided("e1", "rv1", "i1", "u.alice")).toBe(false);
    expect(reviewKeys.revRk("u.alice", { itemId: "x", resourceId: "r", decision: "approve" })).toBe(
      "rev|u.alice|d|r|x",
    );
  });

  it("refuses a decision transaction over 100 operations before sending it", async () => {
    const r = quietCaps(backend.make()).reviews;
    await r.createInstance(run());
    const keys40 = Array.from({ length: 40 }, (_, n) => `u.o${n}`);
    const items = [item(1, keys40), item(2, keys40)];
    await r.putItems("e1", "rv1", "i1", items, keys40);
    const rr = (await r.getRun("e1", "rv1", "i1"))!;
    const changes = await Promise.all(
      items.map(async (i) => {
        const got = (await r.getItem("e1", "rv1", "i1", i.itemId))!;
        return { before: got.item, etag: got.etag, after: { ...got.item, decision: "approve" as const } };
      }),
    );
    await expect(r.decide(rr.run, rr.etag, changes)).rejects.toThrow(/over 100/);
    // One item of 40 reviewers fits: 1 + 80 + the run row.
    await r.decide(rr.run, rr.etag, changes.slice(0, 1));
    expect((await r.getItem("e1", "rv1", "i1", "it0001"))!.item.decision).toBe("approve");
  });
});
