/**
 * Review decisions (`shared/usecases/reviews/decisions.ts`) on the in-memory store: who may decide
 * under which reviewer key, every refusal (and that a refused call writes nothing), counts, and the
 * default decision.
 */
import { describe, expect, it } from "vitest";
import { DomainError } from "../../shared/errors.js";
import type { ReviewDefinition, ReviewInstance, ReviewItem } from "../../shared/model/reviews.js";
import { decideItems, mayReviewAs, reviewerItemsPage } from "../../shared/usecases/reviews/decisions.js";
import { memoryCaps, seedDirectory } from "../support/memoryCaps.js";

const t0 = new Date("2026-01-01T00:00:00.000Z");

async function world(over: Partial<ReviewDefinition> = {}, runOver: Partial<ReviewInstance> = {}) {
  let now = new Date(t0.getTime() + 60_000);
  const m = memoryCaps(undefined, () => now);
  await seedDirectory(m.caps, "e1", [
    ["owner1", true, ["EnvironmentMaker"]],
    ["owner2", true, ["EnvironmentMaker"]],
    ["fb", true, ["BasicUser"]],
    ["admin", true, ["SystemAdministrator"]],
    ["oldAdmin", false, ["SystemAdministrator"]],
    ["stranger", true, ["BasicUser"]],
  ]);
  const definition: ReviewDefinition = {
    reviewId: "rv",
    envId: "e1",
    displayName: "R",
    scope: {},
    reviewers: "owners",
    fallbackReviewerIds: ["fb"],
    durationDays: 7,
    createdAt: t0.toISOString(),
    updatedAt: t0.toISOString(),
    updatedBy: "admin",
    ...over,
  };
  const items: ReviewItem[] = [
    item("a", ["u.owner1", "u.owner2"]),
    item("b", ["u.owner1"]),
    item("c", ["fallback"]),
    item("d", ["admins"]),
  ];
  const run: ReviewInstance = {
    envId: "e1",
    reviewId: "rv",
    instanceId: "i1",
    status: "inProgress",
    phase: "open",
    trigger: "request",
    startedBy: "admin",
    createdAt: t0.toISOString(),
    endsAt: new Date(t0.getTime() + 7 * 86_400_000).toISOString(),
    remindAt: new Date(t0.getTime() + 3.5 * 86_400_000).toISOString(),
    definition,
    counts: { items: 4, approve: 0, deny: 0, dontKnow: 0, undecided: 4 },
    applyCounts: { applied: 0, alreadyGone: 0, failed: 0 },
    ...runOver,
  };
  await m.caps.reviews.createInstance(run);
  await m.caps.reviews.putItems("e1", "rv", "i1", items, ["u.owner1", "u.owner2", "fallback", "admins"]);
  const counts = async () => (await m.caps.reviews.getRun("e1", "rv", "i1"))!.run.counts;
  const decision = async (id: string) => (await m.caps.reviews.getItem("e1", "rv", "i1", id))!.item.decision;
  return { ...m, run, counts, decision, setNow: (d: Date) => (now = d) };
}

function item(id: string, reviewers: ReviewItem["reviewers"]): ReviewItem {
  return {
    itemId: id,
    resourceId: `res-${id}`,
    kind: "cloudFlow",
    resourceName: `Flow ${id}`,
    principal: { type: "user", id: "stranger" },
    role: "viewer",
    since: t0.toISOString(),
    grantedBy: "owner1",
    via: "direct",
    reviewers,
  };
}

async function refusal(p: Promise<unknown>): Promise<DomainError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(DomainError);
  return e as DomainError;
}

describe("review decisions", () => {
  it("lets an owner decide their items, moves index rows and counts", async () => {
    const w = await world();
    const r = await decideItems(
      w.caps,
      { userId: "owner1" },
      "e1",
      "rv",
      "i1",
      [
        { itemId: "a", decision: "deny", justification: " left the team " },
        { itemId: "b", decision: "approve" },
      ],
      "api",
    );
    expect(r.decided).toBe(2);
    expect(r.items.map((i) => [i.itemId, i.decision, i.decidedBy, i.justification])).toEqual([
      ["a", "deny", "owner1", "left the team"],
      ["b", "approve", "owner1", undefined],
    ]);
    expect(await w.counts()).toEqual({ items: 4, approve: 1, deny: 1, dontKnow: 0, undecided: 2 });
    // owner2 reviews item a too: it moved to the decided side of their index.
    const page = await reviewerItemsPage(w.caps, "e1", "rv", "i1", "u.owner2", undefined, 10);
    expect(page.items.map((i) => [i.itemId, i.decision])).toEqual([["a", "deny"]]);
    expect(await w.caps.reviews.hasUndecided("e1", "rv", "i1", "u.owner1")).toBe(false);
    // Changing a decision moves the counts, not the number of decided items.
    await decideItems(w.caps, { userId: "owner2" }, "e1", "rv", "i1", [{ itemId: "a", decision: "dontKnow" }], "api");
    expect(await w.counts()).toEqual({ items: 4, approve: 1, deny: 0, dontKnow: 1, undecided: 2 });
    expect((await w.caps.reviews.getItem("e1", "rv", "i1", "a"))!.item.decidedBy).toBe("owner2");
  });

  it("lets fallback reviewers and enabled admins decide their keys, nobody else", async () => {
    const w = await world();
    await decideItems(w.caps, { userId: "fb" }, "e1", "rv", "i1", [{ itemId: "c", decision: "approve" }], "page");
    await decideItems(w.caps, { userId: "admin" }, "e1", "rv", "i1", [{ itemId: "d", decision: "deny" }], "api");
    expect([await w.decision("c"), await w.decision("d")]).toEqual(["approve", "deny"]);
    expect(await mayReviewAs(w.caps, "e1", w.run, "admins", "oldAdmin")).toMatchObject({ ok: false });
    expect(await mayReviewAs(w.caps, "e1", w.run, "fallback", "owner1")).toMatchObject({ ok: false });
    expect(await mayReviewAs(w.caps, "e1", w.run, "u.owner1", "owner1")).toEqual({ ok: true });
    expect(await mayReviewAs(w.caps, "e1", w.run, "u.owner1", "owner2")).toMatchObject({ ok: false });
  });

  it("refuses with 403 a person who reviews none of an item's keys, writing nothing", async () => {
    const w = await world();
    for (const [who, itemId] of [
      ["stranger", "a"],
      ["owner2", "b"],
      ["owner1", "c"],
      ["fb", "d"],
      ["oldAdmin", "d"],
    ] as const) {
      const e = await refusal(
        decideItems(
          w.caps,
          { userId: who },
          "e1",
          "rv",
          "i1",
          // The first item is theirs when it can be: the whole call is refused all the same.
          [
            { itemId: "a", decision: "approve" as const },
            { itemId, decision: "approve" as const },
          ].filter((d, i, all) => all.findIndex((x) => x.itemId === d.itemId) === i),
          "api",
        ),
      );
      expect(e.code).toBe("forbidden");
    }
    expect(await w.counts()).toMatchObject({ undecided: 4 });
    expect(await w.decision("a")).toBeUndefined();
  });

  it("refuses a disabled owner", async () => {
    const w = await world();
    await seedDirectory(w.caps, "e1", [["owner1", false, ["EnvironmentMaker"]]]);
    const e = await refusal(
      decideItems(w.caps, { userId: "owner1" }, "e1", "rv", "i1", [{ itemId: "b", decision: "approve" }], "api"),
    );
    expect(e.code).toBe("forbidden");
  });

  it("requires a justification when the definition says so, naming each decision without one", async () => {
    const w = await world({ justificationRequired: true });
    const e = await refusal(
      decideItems(
        w.caps,
        { userId: "owner1" },
        "e1",
        "rv",
        "i1",
        [
          { itemId: "a", decision: "deny", justification: "gone" },
          { itemId: "b", decision: "approve", justification: "   " },
        ],
        "api",
      ),
    );
    expect(e.code).toBe("invalidInput");
    expect(e.errors.map((x) => x.field)).toEqual(["body.decisions[1].justification"]);
    expect(await w.decision("a")).toBeUndefined();
  });

  it("refuses an item decided twice in one call (400), an unknown item or instance (404)", async () => {
    const w = await world();
    // owner1's decisions on an instance, through the API, and the refusal they get.
    const refused = (instanceId: string, decisions: Parameters<typeof decideItems>[5]) =>
      refusal(decideItems(w.caps, { userId: "owner1" }, "e1", "rv", instanceId, decisions, "api"));
    const twice = await refused("i1", [
      { itemId: "b", decision: "deny" },
      { itemId: "b", decision: "approve" },
    ]);
    expect(twice.code).toBe("invalidInput");
    expect(twice.errors[0]!.field).toBe("body.decisions[1].itemId");
    const unknown = await refused("i1", [
      { itemId: "b", decision: "deny" },
      { itemId: "nope", decision: "deny" },
    ]);
    expect(unknown.code).toBe("notFound");
    expect(await w.decision("b")).toBeUndefined();
    const noInstance = await refused("i2", [{ itemId: "b", decision: "deny" }]);
    expect(noInstance.code).toBe("notFound");
  });

  it("refuses with 409 before the snapshot is done, after the end, and once completed", async () => {
    for (const [phase, at] of [
      ["snapshot", undefined],
      ["complete", undefined],
      ["done", undefined],
      ["open", new Date(t0.getTime() + 8 * 86_400_000)],
    ] as const) {
      const w = await world({}, { phase });
      if (at) w.setNow(at);
      const e = await refusal(
        decideItems(w.caps, { userId: "owner1" }, "e1", "rv", "i1", [{ itemId: "b", decision: "deny" }], "api"),
      );
      expect(e.code).toBe("conflict");
    }
    // Once the snapshot is done, until the end: notifying, open and reminding take decisions.
    for (const phase of ["notify", "open", "remind"] as const) {
      const w = await world({}, { phase });
      await decideItems(w.caps, { userId: "owner1" }, "e1", "rv", "i1", [{ itemId: "b", decision: "deny" }], "api");
      expect(await w.decision("b")).toBe("deny");
    }
  });

  it("takes default decisions at completion for undecided items only, as system", async () => {
    const w = await world();
    await decideItems(w.caps, { userId: "owner1" }, "e1", "rv", "i1", [{ itemId: "b", decision: "approve" }], "api");
    const refused = await refusal(
      decideItems(w.caps, { userId: "system" }, "e1", "rv", "i1", [{ itemId: "a", decision: "deny" }], "default"),
    );
    expect(refused.code).toBe("conflict");
    const read = (await w.caps.reviews.getRun("e1", "rv", "i1"))!;
    await w.caps.reviews.putRun({ ...read.run, phase: "complete" }, read.etag);
    w.setNow(new Date(t0.getTime() + 8 * 86_400_000));
    const r = await decideItems(
      w.caps,
      { userId: "system" },
      "e1",
      "rv",
      "i1",
      ["a", "b", "c", "d"].map((itemId) => ({ itemId, decision: "deny" as const })),
      "default",
    );
    expect(r.items.map((i) => [i.itemId, i.decidedBy, i.defaulted])).toEqual([
      ["a", "system", true],
      ["c", "system", true],
      ["d", "system", true],
    ]);
    expect(await w.decision("b")).toBe("approve");
    expect(await w.counts()).toEqual({ items: 4, approve: 1, deny: 3, dontKnow: 0, undecided: 0 });
  });

  it("keeps every decision of concurrent reviewers of one instance", async () => {
    const w = await world();
    await Promise.all([
      decideItems(w.caps, { userId: "owner1" }, "e1", "rv", "i1", [{ itemId: "b", decision: "approve" }], "api"),
      decideItems(w.caps, { userId: "owner2" }, "e1", "rv", "i1", [{ itemId: "a", decision: "deny" }], "api"),
      decideItems(w.caps, { userId: "fb" }, "e1", "rv", "i1", [{ itemId: "c", decision: "dontKnow" }], "page"),
      decideItems(w.caps, { userId: "admin" }, "e1", "rv", "i1", [{ itemId: "d", decision: "deny" }], "api"),
    ]);
    expect(await w.counts()).toEqual({ items: 4, approve: 1, deny: 2, dontKnow: 1, undecided: 0 });
  });
});
