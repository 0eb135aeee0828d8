import { describe, expect, it } from "vitest";
import { eventually, giveUp } from "./poll.js";

// The poll helper every end-to-end test waits with: it returns what it waited for, and when the wait
// fails the message says what was awaited and what was last seen.

describe("eventually", () => {
  it("returns the first value that is not undefined", async () => {
    let calls = 0;
    const value = await eventually("the third call", () => (++calls === 3 ? "ready" : undefined), { intervalMs: 1 });
    expect(value).toBe("ready");
    expect(calls).toBe(3);
  });

  it("returns the first value `until` accepts, retrying a probe that throws", async () => {
    let calls = 0;
    const value = await eventually(
      "a count of two",
      () => {
        calls++;
        if (calls === 1) throw new Error("not listening yet");
        return calls;
      },
      { until: (n) => n >= 2, intervalMs: 1 },
    );
    expect(value).toBe(2);
  });

  it("fails after the timeout naming what it waited for and the last value", async () => {
    await expect(
      eventually("status sent", () => "queued", { until: (s) => s === "sent", timeoutMs: 20 }),
    ).rejects.toThrow(/^timed out after 20 ms waiting for status sent; last value: 'queued'$/);
  });

  it("fails after the timeout naming the last error", async () => {
    const failing = eventually(
      "health",
      (): string => {
        throw new Error("connection refused");
      },
      { timeoutMs: 20 },
    );
    await expect(failing).rejects.toThrow(/^timed out after 20 ms waiting for health; last error: connection refused$/);
  });

  it("stops at once when the probe gives up", async () => {
    let calls = 0;
    const given = eventually(
      "one email",
      () => {
        calls++;
        return giveUp("two emails arrived");
      },
      { timeoutMs: 60_000 },
    );
    await expect(given).rejects.toThrow("gave up waiting for one email: two emails arrived");
    expect(calls).toBe(1);
  });
});
