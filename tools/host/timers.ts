/**
 * Timer triggers: six-field NCRONTAB schedules (`{second} {minute} {hour} {day} {month}
 * {day-of-week}`) in UTC, the handler given the Functions `Timer` shape, one run at a time.
 */
import type { Timer } from "@azure/functions";
import { Cron } from "croner";
import type { FunctionEntry, Trigger } from "./bindings.js";
import type { Invoke } from "./invocation.js";

export type TimerFunction = FunctionEntry<Extract<Trigger, { kind: "timer" }>>;

export interface Timers {
  /** Runs the timer now (any case of its name); resolves when it finished, rejects if it threw. */
  fire(name: string): Promise<void>;
  /** Stops every schedule; runs already started go on (the host waits for them). */
  stop(): void;
}

interface TimerState {
  fn: TimerFunction;
  /** The schedule alone (a croner job without a callback runs nothing). */
  pattern: Cron;
  job: Cron | undefined;
  last: Date | undefined;
  running: Promise<void> | undefined;
}

const cronOptions = { timezone: "UTC", mode: "6-part", domAndDow: true } as const;

/** Reads a timer's schedule; throws, naming the function, on anything but six-field NCRONTAB. */
function parseSchedule(fn: TimerFunction): Cron {
  const expression = fn.trigger.schedule.trim();
  const where = `function ${fn.name}: schedule "${expression}"`;
  // Croner would also take an ISO date (a one-off run); Azure's TimeSpan form is not emulated.
  if (expression.split(/\s+/).length !== 6)
    throw new Error(`${where}: expected six NCRONTAB fields ({second} {minute} {hour} {day} {month} {day-of-week})`);
  try {
    return new Cron(expression, cronOptions);
  } catch (error) {
    throw new Error(`${where}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Reads every timer's schedule (a bad one throws here, at start, as it would fail in Azure), then
 * schedules them unless `scheduled` is false.
 */
export function startTimers(
  functions: readonly TimerFunction[],
  options: { scheduled: boolean; invoke: Invoke; track: <T>(promise: Promise<T>) => Promise<T> },
): Timers {
  const states = new Map<string, TimerState>(
    functions.map((fn) => [
      fn.name.toLowerCase(),
      { fn, pattern: parseSchedule(fn), job: undefined, last: undefined, running: undefined },
    ]),
  );
  let stopped = false;

  async function fire(state: TimerState): Promise<void> {
    const now = new Date();
    const timer: Timer = {
      isPastDue: false,
      schedule: { adjustForDST: true },
      scheduleStatus: {
        // .NET DateTime.MinValue, what Functions reports before the first run.
        last: state.last?.toISOString() ?? "0001-01-01T00:00:00",
        next: (state.pattern.nextRun() ?? now).toISOString(),
        lastUpdated: now.toISOString(),
      },
    };
    state.last = now;
    await options.invoke(state.fn, timer);
  }

  if (options.scheduled) {
    for (const state of states.values()) {
      state.job = new Cron(state.fn.trigger.schedule.trim(), cronOptions, () => {
        // Timer functions are singletons in Azure: a run due while the previous one still runs is
        // skipped rather than overlapped.
        if (stopped || state.running) return;
        state.running = options
          .track(fire(state))
          .catch(() => undefined)
          .finally(() => (state.running = undefined));
      });
    }
  }

  return {
    fire(name) {
      const state = states.get(name.toLowerCase());
      if (state === undefined) return Promise.reject(new Error(`no timer function named ${name}`));
      return options.track(fire(state));
    },
    stop() {
      stopped = true;
      for (const state of states.values()) state.job?.stop();
    },
  };
}
