/**
 * The review snapshot (`shared/usecases/reviews/snapshot.ts`) on the in-memory store: scope, who
 * reviews each item, and a walk that stops (budget, crash) and resumes without a missing or a
 * double-counted item.
 */
import { describe, expect, it } from "vitest";
import { MemoryRowStore } from "../../shared/adapters/memory/memoryRowStore.js";
import type { ReviewDefinitionInput, ReviewItem } from "../../shared/model/reviews.js";
import type { WriteOp } from "../../shared/ports/rows.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import { putMembership, putUser } from "../../shared/usecases/directory.js";
import { putResource } from "../../shared/usecases/resources.js";
import { newReviewInstance } from "../../shared/usecases/reviews/start.js";
import { reviewItemId, runSnapshot } from "../../shared/usecases/reviews/snapshot.js";
import { share } from "../../shared/usecases/sharing.js";
import { memoryCaps, seedDirectory } from "../support/memoryCaps.js";

const app: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
const as = (id: string): Caller => ({ principalId: id, appRoles: [] });

/**
 * A memory store whose review run row writes fail once `runWritesLeft` is used up, as a crash
 * between a page's items and its run row would.
 */
class CrashingStore extends MemoryRowStore {
  runWritesLeft = Infinity;
  override async transact(table: string, pk: string, ops: readonly WriteOp[]) {
    if (table.endsWith("Reviews") && ops.some((o) => o.rk === "run" && o.op === "replace")) {
      if (this.runWritesLeft <= 0) throw new Error("injected crash");
      this.runWritesLeft--;
    }
    return super.transact(table, pk, ops);
  }
}

async function world() {
  let now = new Date();
  const store = new CrashingStore();
  const m = memoryCaps(store, () => now);
  const c = m.caps;
  await seedDirectory(c, "e1", [
    ["o1", true, ["EnvironmentMaker"]],
    ["o2", true, ["EnvironmentMaker"]],
    ["dis", true, ["EnvironmentMaker"]],
    ["v", true, ["BasicUser"]],
    ["admin", true, ["SystemAdministrator"]],
  ]);
  await putUser(c, app, {
    userId: "g",
    email: "g@guest.test",
    displayName: "G",
    userType: "guest",
    enabled: true,
    license: "free",
  });
  await putMembership(c, app, { envId: "e1", userId: "g", securityRoles: ["BasicUser"] });
  for (const [id, creatorId] of [
    ["p1", "o1"],
    ["p2", "dis"],
  ])
    await putResource(
      c,
      as(creatorId!),
      "e1",
      id!,
      { kind: "processMining", displayName: `P ${id}`, creatorId: creatorId!, analyticsReady: true },
      undefined,
    );
  const grant = (by: string, on: string, role: "coOwner" | "viewer", ids: string[]) =>
    share(c, as(by), "e1", on, {
      role,
      principals: ids.map((id) => ({ type: "user" as const, id })),
      sendInvitation: false,
    });
  await grant("o1", "p1", "coOwner", ["o2"]);
  await grant("o1", "p1", "viewer", ["v", "g"]);
  await grant("dis", "p2", "viewer", ["v"]);
  // dis leaves: p2 has no enabled owner.
  await putUser(c, app, {
    userId: "dis",
    email: "dis@x.test",
    displayName: "dis",
    userType: "member",
    enabled: false,
    license: "paid",
  });

  let n = 0;
  const start = async (input: Partial<ReviewDefinitionInput> = {}) => {
    const instanceId = `i${n++}`;
    const definition = {
      displayName: "R",
      scope: {},
      reviewers: "owners" as const,
      fallbackReviewerIds: ["admin"],
      durationDays: 7,
      ...input,
      reviewId: "rv",
      envId: "e1",
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      updatedBy: "app",
    };
    await c.reviews.createInstance(newReviewInstance(definition, instanceId, "request", "app", now));
    return instanceId;
  };
  const items = async (instanceId: string) => {
    const all: ReviewItem[] = [];
    let cont: string | undefined;
    do {
      const p = await c.reviews.itemsPage("e1", "rv", instanceId, cont, 100);
      all.push(...p.items);
      cont = p.continuation;
    } while (cont);
    return all;
  };
  /** `resource principal role → reviewers`, sorted, as a readable summary. */
  const summary = async (instanceId: string) =>
    (await items(instanceId))
      .map((i) => `${i.resourceId} ${i.principal.id} ${i.role} → ${i.reviewers.join(",")}`)
      .sort();
  const run = async (instanceId: string) => (await c.reviews.getRun("e1", "rv", instanceId))!.run;
  return { c, store, start, items, summary, run, advance: (ms: number) => (now = new Date(now.getTime() + ms)) };
}

describe("review snapshot", () => {
  it("gives each grant in scope an item, reviewed by the resource's other enabled owners, else the fallback", async () => {
    const w = await world();
    const id = await w.start();
    const run = await runSnapshot(w.c, "e1", "rv", id, { budgetMs: 10_000 });
    expect(run?.phase).toBe("notify");
    expect(run?.snapshotAt).toBeDefined();
    expect(await w.summary(id)).toEqual([
      "p1 g viewer → u.o1,u.o2",
      "p1 o1 owner → u.o2",
      "p1 o2 coOwner → u.o1",
      "p1 v viewer → u.o1,u.o2",
      "p2 dis owner → fallback",
      "p2 v viewer → fallback",
    ]);
    expect(run?.counts).toEqual({ items: 6, approve: 0, deny: 0, dontKnow: 0, undecided: 6 });
    const g = (await w.items(id)).find((i) => i.principal.id === "g")!;
    expect(g).toMatchObject({
      itemId: reviewItemId("p1", { principalType: "user", principalId: "g", role: "viewer" }),
    });
    expect(g).toMatchObject({
      guest: true,
      via: "direct",
      grantedBy: "o1",
      resourceName: "P p1",
      kind: "processMining",
    });
    const keys = (await w.c.reviews.reviewersPage("e1", "rv", id, undefined)).reviewerKeys.sort();
    expect(keys).toEqual(["fallback", "u.o1", "u.o2"]);
    // A second call finds the phase done and changes nothing.
    expect((await runSnapshot(w.c, "e1", "rv", id, { budgetMs: 10_000 }))?.counts.items).toBe(6);
  });

  it("filters by kind, role, principal type and guests; admins review everything of an admins review", async () => {
    const w = await world();
    const guests = await w.start({ scope: { guestsOnly: true } });
    await runSnapshot(w.c, "e1", "rv", guests, { budgetMs: 10_000 });
    expect(await w.summary(guests)).toEqual(["p1 g viewer → u.o1,u.o2"]);
    const other = await w.start({ scope: { kinds: ["taskMining"] } });
    await runSnapshot(w.c, "e1", "rv", other, { budgetMs: 10_000 });
    expect(await w.summary(other)).toEqual([]);
    expect((await w.run(other)).phase).toBe("notify");
    const owners = await w.start({
      scope: { roles: ["owner", "coOwner"], principalTypes: ["user"] },
      reviewers: "admins",
    });
    await runSnapshot(w.c, "e1", "rv", owners, { budgetMs: 10_000 });
    expect(await w.summary(owners)).toEqual([
      "p1 o1 owner → admins",
      "p1 o2 coOwner → admins",
      "p2 dis owner → admins",
    ]);
    const noFallback = await w.start({ scope: { roles: ["viewer"] }, fallbackReviewerIds: undefined });
    await runSnapshot(w.c, "e1", "rv", noFallback, { budgetMs: 10_000 });
    expect((await w.summary(noFallback)).filter((s) => s.startsWith("p2"))).toEqual(["p2 v viewer → admins"]);
  });

  it("resumes a walk stopped by its budget or by a crash, writing every item once and counting it once", async () => {
    const w = await world();
    const id = await w.start();
    // One page (two rows) a call: each call stops after a page that made progress.
    let calls = 0;
    for (; (await w.run(id)).phase === "snapshot" && calls < 50; calls++)
      await runSnapshot(w.c, "e1", "rv", id, { budgetMs: 0, pageSize: 2 });
    expect(calls).toBeGreaterThan(1);
    expect((await w.run(id)).counts.items).toBe(6);
    expect(await w.items(id)).toHaveLength(6);

    // A crash after a page's items, before its run row: the lease holds the row until it runs out,
    // then the walk repeats that page, which rewrites the same items and counts them once.
    const crashed = await w.start();
    // The lease is taken (one run row write), the first page's items are written, its run row is not.
    w.store.runWritesLeft = 1;
    await expect(runSnapshot(w.c, "e1", "rv", crashed, { budgetMs: 10_000, pageSize: 6 })).rejects.toThrow(/crash/);
    w.store.runWritesLeft = Infinity;
    expect(await w.items(crashed)).not.toHaveLength(0);
    expect((await w.run(crashed)).phase).toBe("snapshot");
    // Taken by the crashed holder until its lease runs out: nobody walks it meanwhile.
    const held = await runSnapshot(w.c, "e1", "rv", crashed, { budgetMs: 10_000 });
    expect(held?.counts.items).toBe(0);
    w.advance(10 * 60_000);
    const resumed = await runSnapshot(w.c, "e1", "rv", crashed, { budgetMs: 10_000, pageSize: 2 });
    expect(resumed?.phase).toBe("notify");
    expect(resumed?.counts).toMatchObject({ items: 6, undecided: 6 });
    expect(await w.summary(crashed)).toEqual(await w.summary(id));
  });
});
