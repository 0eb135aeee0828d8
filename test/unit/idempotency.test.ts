import { HttpRequest } from "@azure/functions";
import { describe, expect, it } from "vitest";
import { requestHash } from "../../shared/adapters/http/idempotency.js";
import { MemoryRowStore } from "../../shared/adapters/memory/memoryRowStore.js";
import {
  IdempotencyStore,
  idempotencyLeaseMs,
  idempotencyTtlMs,
  type Begun,
  type Lease,
} from "../../shared/store/idempotencyRows.js";

const scope = { callerId: "maker", route: "share", key: "k-1" };
const t0 = new Date("2026-05-01T10:00:00Z");
const later = (ms: number) => new Date(t0.getTime() + ms);
const answer = { status: 201, headers: { "content-type": "application/json" }, body: '{"ok":true}' };

function leaseOf(b: Begun): Lease {
  if (b.kind !== "run") throw new Error(`expected to run, got ${b.kind}`);
  return b.lease;
}

function setup() {
  const rows = new MemoryRowStore();
  return { rows, store: new IdempotencyStore(rows, "tIdempotency") };
}

describe("the Idempotency table", () => {
  it("runs a new key with one write, then replays its answer for the same request and refuses another", async () => {
    const { rows, store } = setup();
    const lease = leaseOf(await store.begin(scope, "h1", t0));
    expect(rows.requests).toBe(1);
    expect(await store.complete(lease, answer)).toBe("stored");
    expect(await store.begin(scope, "h1", later(1000))).toEqual({ kind: "replay", response: answer });
    expect(await store.begin(scope, "h2", later(1000))).toEqual({ kind: "otherRequest" });
  });

  it("keeps callers, routes and keys apart", async () => {
    const { store } = setup();
    await store.complete(leaseOf(await store.begin(scope, "h1", t0)), answer);
    for (const other of [
      { ...scope, callerId: "someone-else" },
      { ...scope, route: "sendCopy" },
      { ...scope, key: "k-2" },
    ]) {
      expect((await store.begin(other, "h2", t0)).kind).toBe("run");
    }
  });

  it("answers in progress while the first attempt runs, and lets a retry take over a lease gone stale", async () => {
    const { store } = setup();
    const first = leaseOf(await store.begin(scope, "h1", t0));
    expect(await store.begin(scope, "h1", later(idempotencyLeaseMs - 1))).toEqual({ kind: "inProgress" });
    // A crashed first attempt doesn't hold the key for its whole day.
    const second = leaseOf(await store.begin(scope, "h1", later(idempotencyLeaseMs)));
    // The first attempt, if it was only slow, finds the key taken and keeps nothing.
    expect(await store.complete(first, { ...answer, body: "first" })).toBe("lost");
    expect(await store.complete(second, answer)).toBe("stored");
    expect(await store.begin(scope, "h1", later(idempotencyLeaseMs + 1))).toEqual({
      kind: "replay",
      response: answer,
    });
  });

  it("does not let a stale lease be taken over by another request under the key", async () => {
    const { store } = setup();
    leaseOf(await store.begin(scope, "h1", t0));
    expect(await store.begin(scope, "h2", later(idempotencyLeaseMs))).toEqual({ kind: "otherRequest" });
  });

  it("counts an expired row as absent: any request under the key runs again and overwrites it", async () => {
    const { store } = setup();
    await store.complete(leaseOf(await store.begin(scope, "h1", t0)), answer);
    expect((await store.begin(scope, "h2", later(idempotencyTtlMs - 1))).kind).toBe("otherRequest");
    const again = leaseOf(await store.begin(scope, "h2", later(idempotencyTtlMs)));
    const fresh = { ...answer, body: "second" };
    expect(await store.complete(again, fresh)).toBe("stored");
    expect(await store.begin(scope, "h2", later(idempotencyTtlMs + 1))).toEqual({ kind: "replay", response: fresh });
  });

  it("forgets a released key, so the next request runs", async () => {
    const { store } = setup();
    await store.release(leaseOf(await store.begin(scope, "h1", t0)));
    expect((await store.begin(scope, "h1", t0)).kind).toBe("run");
  });

  it("keeps an answer longer than one string property across several, and releases one larger than a row", async () => {
    const { store } = setup();
    const long = { ...answer, body: "x".repeat(200_000) };
    expect(await store.complete(leaseOf(await store.begin(scope, "h1", t0)), long)).toBe("stored");
    expect(await store.begin(scope, "h1", t0)).toEqual({ kind: "replay", response: long });

    const other = { ...scope, key: "huge" };
    const huge = { ...answer, body: "x".repeat(600_000) }; // 1.2 MB as UTF-16: more than an entity holds
    expect(await store.complete(leaseOf(await store.begin(other, "h1", t0)), huge)).toBe("tooLarge");
    expect((await store.begin(other, "h1", t0)).kind).toBe("run");
  });

  it("fits any key and caller in the row keys (digests), even ones with characters keys may not hold", async () => {
    const { store } = setup();
    const odd = { callerId: "a/".repeat(300), route: "share", key: "#?/\\ ".repeat(50) };
    const lease = leaseOf(await store.begin(odd, "h1", t0));
    expect(await store.complete(lease, answer)).toBe("stored");
    expect((await store.begin(odd, "h1", t0)).kind).toBe("replay");
  });
});

describe("the request a key stands for", () => {
  const req = (params: Record<string, string> = { envId: "e" }, query: Record<string, string> = {}) =>
    new HttpRequest({ method: "POST", url: "http://localhost/api/x", params, query });

  it("is the same for the same JSON in another key order or spacing, and differs for any other value", () => {
    const h = requestHash(req(), '{"a":1,"b":[1,2]}');
    expect(requestHash(req(), '{ "b": [1, 2], "a": 1.0 }')).toBe(h);
    expect(requestHash(req(), '{"a":1,"b":[2,1]}')).not.toBe(h);
    expect(requestHash(req({ envId: "f" }), '{"a":1,"b":[1,2]}')).not.toBe(h);
    expect(requestHash(req({ envId: "e" }, { dryRun: "1" }), '{"a":1,"b":[1,2]}')).not.toBe(h);
  });

  it("hashes a body holding a lone surrogate (which RFC 8785 refuses) as sent, rather than failing", () => {
    const body = '{"displayName":"\\ud800x"}';
    const h = requestHash(req(), body);
    expect(requestHash(req(), body)).toBe(h);
    expect(requestHash(req(), '{"displayName":"\\ud801x"}')).not.toBe(h);
    expect(requestHash(req(), '{ "displayName":"\\ud800x"}')).not.toBe(h);
  });
});
