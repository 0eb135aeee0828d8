/**
 * The one way tests wait: poll a probe until its value is acceptable, within a bound, and fail naming
 * what was awaited and what was last seen. No test sleeps for a fixed time.
 */
import { inspect } from "node:util";

export interface PollOptions {
  /** How long to keep polling before failing (default 30 s). */
  timeoutMs?: number;
  /** The pause between two probes (default 50 ms). */
  intervalMs?: number;
}

/**
 * Thrown from a probe to stop polling at once: the awaited condition can no longer hold (say, more
 * emails arrived than expected), so waiting out the timeout would only delay the failure.
 */
export class GaveUp extends Error {
  override name = "GaveUp";
}

/** Stops an `eventually` at once with this reason. */
export function giveUp(reason: string): never {
  throw new GaveUp(reason);
}

const show = (value: unknown) =>
  inspect(value, { depth: 4, breakLength: Infinity, maxArrayLength: 20, maxStringLength: 300 }).slice(0, 1500);

/**
 * Calls `probe` until `until(value)` holds and returns that value. A probe that throws is tried again
 * (storage or the host may be coming back), unless it threw {@link GaveUp}. After `timeoutMs` it
 * fails with a message naming `what` and the last value or error.
 */
export async function eventually<T>(
  what: string,
  probe: () => T | Promise<T>,
  options: PollOptions & { until: (value: T) => boolean },
): Promise<T>;
/** Calls `probe` until it returns something other than `undefined`, and returns that. */
export async function eventually<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  options?: PollOptions,
): Promise<T>;
export async function eventually<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  options: PollOptions & { until?: (value: T | undefined) => boolean } = {},
): Promise<T | undefined> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 50;
  const until = options.until ?? ((value: T | undefined) => value !== undefined);
  const deadline = Date.now() + timeoutMs;
  let last: { value: T | undefined } | { error: unknown };
  for (;;) {
    try {
      const value = await probe();
      if (until(value)) return value;
      last = { value };
    } catch (error) {
      if (error instanceof GaveUp) throw new Error(`gave up waiting for ${what}: ${error.message}`, { cause: error });
      last = { error };
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      if ("error" in last) {
        const message = last.error instanceof Error ? last.error.message : show(last.error);
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last error: ${message}`, {
          cause: last.error,
        });
      }
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${show(last.value)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, left)));
  }
}
