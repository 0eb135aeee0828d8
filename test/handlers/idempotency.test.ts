import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { call, handlerServices, problemOf, seed } from "./support.js";
import { defineHttp, json } from "../../shared/adapters/http/define.js";
import { openApiDocument } from "../../shared/adapters/http/openapi.js";
import { unavailable } from "../../shared/errors.js";
import { idempotencyLeaseMs } from "../../shared/store/idempotencyRows.js";

const { caps, sent, token } = handlerServices();
const { handler: share } = await import("../../functions/share.js");

/**
 * A route of the test's own, so each outcome is chosen by the body: how many times the handler ran
 * is what a replay must not change, and `hold` keeps the first attempt open for as long as the test wants.
 */
let runs = 0;
let hold: Promise<void> | undefined;
const probe = defineHttp(
  {
    name: "idempotencyProbe",
    route: "test/idempotency/{id}",
    method: "POST",
    summary: "test only",
    idempotent: { continueStatuses: [202] },
    params: z.object({ id: z.string() }),
    body: z.object({ outcome: z.enum(["created", "refused", "busy", "unavailable", "crash", "unfinished"]) }),
    responses: { 201: { description: "created" } },
  },
  async ({ params, body }) => {
    const run = ++runs;
    if (hold) await hold;
    switch (body.outcome) {
      case "created":
        return json(201, { id: params.id, run }, { location: `/api/test/${params.id}` });
      case "refused":
        return json(403, { run });
      case "busy":
        return json(409, { run });
      case "unavailable":
        throw unavailable("storage is down");
      case "crash":
        throw new Error("a bug");
      case "unfinished":
        return json(202, { run });
    }
  },
);

describe("Idempotency-Key in defineHttp", () => {
  let maker: string;
  let other: string;
  beforeAll(async () => {
    await seed(caps);
    maker = await token("maker");
    other = await token("viewer");
  });

  const post = (key: string | undefined, body: unknown, as = maker, id = "a") =>
    call(probe, {
      method: "POST",
      path: `test/idempotency/${id}`,
      params: { id },
      token: as,
      body,
      headers: key === undefined ? {} : { "idempotency-key": key },
    });

  it("replays the first answer, status, body and location, without running again", async () => {
    const first = await post("replay-1", { outcome: "created" });
    expect(first.status).toBe(201);
    expect(first.headers.get("idempotency-replayed")).toBeNull();
    const before = runs;
    // The same body serialised with other spacing is the same request.
    const again = await post("replay-1", '{ "outcome" :"created" }');
    expect(runs).toBe(before);
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(again.headers.get("location")).toBe("/api/test/a");
    expect(again.headers.get("content-type")).toBe(first.headers.get("content-type"));
    expect(again.headers.get("idempotency-replayed")).toBe("true");
  });

  it("runs every time without a key, and keeps nothing", async () => {
    const before = runs;
    await post(undefined, { outcome: "created" });
    await post(undefined, { outcome: "created" });
    expect(runs).toBe(before + 2);
  });

  it("refuses the key with another body or another path: 422", async () => {
    await post("other-1", { outcome: "created" });
    const body = problemOf(await post("other-1", { outcome: "refused" }), 422);
    expect(body.detail).toContain("Idempotency-Key was used with another request");
    problemOf(await post("other-1", { outcome: "created" }, maker, "b"), 422);
  });

  it("keeps each caller's keys apart", async () => {
    const mine = await post("shared-key", { outcome: "created" });
    const theirs = await post("shared-key", { outcome: "created" }, other);
    expect(theirs.headers.get("idempotency-replayed")).toBeNull();
    expect(theirs.json).not.toEqual(mine.json);
  });

  it("answers 409 to a retry while the first attempt still runs, then replays once it has answered", async () => {
    let open!: () => void;
    hold = new Promise((resolve) => (open = resolve));
    const before = runs + 1;
    const first = post("slow-1", { outcome: "created" });
    // The first attempt has claimed the key and waits inside the handler.
    await expect.poll(() => runs).toBe(before);
    const during = await post("slow-1", { outcome: "created" });
    expect(problemOf(during, 409).detail).toContain("still running");
    expect(during.headers.get("retry-after")).toBe("1");
    expect(runs).toBe(before);
    hold = undefined;
    open();
    const answered = await first;
    expect(answered.status).toBe(201);
    const after = await post("slow-1", { outcome: "created" });
    expect(after.headers.get("idempotency-replayed")).toBe("true");
    expect(after.text).toBe(answered.text);
  });

  it("takes over a key whose first attempt crashed once its lease is stale", async () => {
    const realClock = caps.clock;
    let open!: () => void;
    hold = new Promise((resolve) => (open = resolve));
    const started = runs + 1;
    const stuck = post("stale-1", { outcome: "created" });
    await expect.poll(() => runs).toBe(started);
    try {
      caps.clock = () => new Date(Date.now() + idempotencyLeaseMs + 1000);
      hold = undefined;
      const retry = await post("stale-1", { outcome: "created" });
      expect(retry.status).toBe(201);
      expect(retry.headers.get("idempotency-replayed")).toBeNull();
    } finally {
      caps.clock = realClock;
      open();
    }
    // The slow first attempt answers, but the key now holds the retry's answer.
    const late = await stuck;
    const replay = await post("stale-1", { outcome: "created" });
    expect(replay.headers.get("idempotency-replayed")).toBe("true");
    expect(replay.text).not.toBe(late.text);
    expect(late.logs.join("\n")).toContain("a later attempt took over the key");
  });

  it("keeps refusals, but not 5xx, 409 or the route's 'post again to continue' answers", async () => {
    await post("refused-1", { outcome: "refused" });
    const before = runs;
    const replayed = await post("refused-1", { outcome: "refused" });
    expect(replayed.status).toBe(403);
    expect(replayed.headers.get("idempotency-replayed")).toBe("true");
    expect(runs).toBe(before);

    for (const [outcome, status] of [
      ["unavailable", 503],
      ["crash", 500],
      ["busy", 409],
      ["unfinished", 202],
    ] as const) {
      const key = `not-kept-${outcome}`;
      expect((await post(key, { outcome })).status).toBe(status);
      const n = runs;
      const retry = await post(key, { outcome });
      expect(retry.status, outcome).toBe(status);
      expect(retry.headers.get("idempotency-replayed"), outcome).toBeNull();
      expect(runs, outcome).toBe(n + 1);
    }
  });

  it("refuses a bad key with a 400 naming the header, before running", async () => {
    const before = runs;
    for (const key of ["", "x".repeat(256), "naïve"]) {
      const p = problemOf(await post(key, { outcome: "created" }), 400);
      expect(p.errors).toEqual([
        { field: "header.idempotency-key", message: "must be 1 to 255 printable ASCII characters" },
      ]);
    }
    expect(runs).toBe(before);
  });

  it("keeps nothing for a request refused before it ran (bad body), so the key is still free", async () => {
    problemOf(await post("early-1", { outcome: "nonsense" }), 400);
    expect((await post("early-1", { outcome: "created" })).headers.get("idempotency-replayed")).toBeNull();
  });

  it("answers a share retried with the same key once: one grant, one invitation email job", async () => {
    const body = { role: "viewer", principals: [{ type: "user", id: "viewer" }], message: "hello" };
    const send = () =>
      call(share, {
        method: "POST",
        path: "environments/e/resources/p1/shares",
        params: { envId: "e", resourceId: "p1" },
        token: maker,
        body,
        headers: { "idempotency-key": "share-1" },
      });
    const jobs = sent.length;
    const first = await send();
    expect(first.status, first.text).toBe(201);
    expect(first.json).toMatchObject({ grants: [{ principalId: "viewer" }], invitations: [{ principalId: "viewer" }] });
    const again = await send();
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(again.headers.get("idempotency-replayed")).toBe("true");
    expect(sent.length).toBe(jobs + 1);
  });

  it("documents the header and its refusals on the creating POSTs only", () => {
    const doc = openApiDocument() as {
      paths: Record<string, Record<string, { parameters?: { name: string }[]; responses: Record<string, unknown> }>>;
    };
    const shares = doc.paths["/api/environments/{envId}/resources/{resourceId}/shares"]!.post!;
    expect(shares.parameters?.map((p) => p.name)).toContain("Idempotency-Key");
    expect(Object.keys(shares.responses)).toEqual(expect.arrayContaining(["201", "200", "409", "422"]));
    const probeDoc = doc.paths["/api/test/idempotency/{id}"]!.post!;
    expect(probeDoc.parameters?.map((p) => p.name)).toContain("Idempotency-Key");
  });
});
