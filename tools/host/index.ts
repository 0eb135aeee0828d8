/**
 * A local stand-in for the Azure Functions host (Core Tools cannot be installed here). It loads the
 * app's function modules as the real Node worker does (`core.ts`), reads their bindings
 * (`bindings.ts`), then serves HTTP triggers (`http.ts`, `routing.ts`, `wire.ts`), fires timers on
 * their NCRONTAB schedule (`timers.ts`) and polls Storage queues with the Functions queue semantics
 * (`queues.ts`). This module wires them together.
 */
import { parseHostJson, toFunctionEntry, type FunctionEntry, type Trigger } from "./bindings.js";
import { loadFunctionModules } from "./core.js";
import { createRequestListener, listen, type HttpFunction } from "./http.js";
import { createInvoker } from "./invocation.js";
import { parseQueueText, QueueClients, QueueListener, type QueueFunction } from "./queues.js";
import { createRouter } from "./routing.js";
import { startTimers, type TimerFunction } from "./timers.js";

export interface StartHostOptions {
  /** Function modules to load (absolute paths or file URLs), e.g. every `dist/functions/*.js`. */
  functionFiles: string[];
  /** HTTP port; 0 picks a free one (see `url`). */
  port: number;
  /** The parsed content of host.json (validated here). */
  hostJson?: unknown;
  /** Settings for `%NAME%` expressions and `connection` names; default `process.env`. */
  settings?: Record<string, string | undefined>;
  /** Where to listen. Default "localhost": 127.0.0.1 and ::1, nothing outside the machine. */
  hostname?: string;
  /** Largest request body accepted, in bytes (default 1 MiB); larger ones get 413. */
  maxRequestBodyBytes?: number;
  /**
   * How long a received queue message stays invisible while its invocation runs; renewed at half
   * time. The Functions host uses 10 minutes; shorter here so a crashed host's messages come back
   * soon. Default 30 s.
   */
  queueLeaseSeconds?: number;
  /** Disable firing timers on their schedule (they can still be fired with `triggerTimer`). */
  disableTimerSchedules?: boolean;
  /** Where user and host logs go; default `console.log`. */
  logLine?: (line: string) => void;
}

/** One registered function as this host serves it. */
export interface RegisteredFunction {
  name: string;
  triggerType: "httpTrigger" | "timerTrigger" | "queueTrigger";
  /** For HTTP triggers, the full path template (e.g. `/api/items/{id}`) and the allowed methods. */
  http?: { path: string; methods: string[] };
  /** For timers, the resolved NCRONTAB schedule. */
  schedule?: string;
  /** For queue triggers, the resolved queue name. */
  queueName?: string;
}

export interface LocalHost {
  /** Base URL, e.g. `http://127.0.0.1:7071` (the routes are under `/api/` there). */
  url: string;
  port: number;
  registrations: readonly RegisteredFunction[];
  /** Runs a timer function now, as the admin API does; resolves when it finished (rejects if it threw). */
  triggerTimer(name: string): Promise<void>;
  /** Stops HTTP, timers and queue polling and waits for in-flight invocations. */
  close(): Promise<void>;
}

function ofKind<K extends Trigger["kind"]>(
  functions: readonly FunctionEntry[],
  kind: K,
): FunctionEntry<Extract<Trigger, { kind: K }>>[] {
  return functions.filter((f): f is FunctionEntry<Extract<Trigger, { kind: K }>> => f.trigger.kind === kind);
}

function describe(fn: FunctionEntry): RegisteredFunction {
  const { trigger } = fn;
  switch (trigger.kind) {
    case "http":
      return {
        name: fn.name,
        triggerType: "httpTrigger",
        http: { path: trigger.route.template, methods: [...trigger.methods] },
      };
    case "timer":
      return { name: fn.name, triggerType: "timerTrigger", schedule: trigger.schedule };
    case "queue":
      return { name: fn.name, triggerType: "queueTrigger", queueName: trigger.queueName };
  }
}

/**
 * Starts the local host. Anything the app registers that this host does not emulate fails here,
 * naming the function. An error thrown while a function module loads (a bad setting, say)
 * propagates unchanged. Only one call per process should load a given function module set.
 */
export async function startHost(options: StartHostOptions): Promise<LocalHost> {
  const settings = options.settings ?? process.env;
  const config = parseHostJson(options.hostJson);
  const logLine = options.logLine ?? ((line: string) => console.log(line));

  const functions: FunctionEntry[] = [];
  for (const registration of await loadFunctionModules(options.functionFiles)) {
    const name = registration.metadata.name.toLowerCase();
    if (functions.some((f) => f.name.toLowerCase() === name))
      throw new Error(`function ${registration.metadata.name} is registered twice`);
    functions.push(toFunctionEntry(registration, settings, config));
  }
  const httpFunctions: HttpFunction[] = ofKind(functions, "http");
  const timerFunctions: TimerFunction[] = ofKind(functions, "timer");
  const queueFunctions: QueueFunction[] = ofKind(functions, "queue");

  const inflight = new Set<Promise<unknown>>();
  const track = <T>(promise: Promise<T>): Promise<T> => {
    inflight.add(promise);
    const forget = (): boolean => inflight.delete(promise);
    void promise.then(forget, forget);
    return promise;
  };
  const invoke = createInvoker(logLine);
  const timers = startTimers(timerFunctions, { scheduled: !options.disableTimerSchedules, invoke, track });

  const queues = new QueueClients(settings);
  const listeners = queueFunctions.map(
    (fn) =>
      new QueueListener(fn, {
        queues,
        config: config.queues,
        leaseSeconds: options.queueLeaseSeconds ?? 30,
        logLine,
        track,
        run: async (message, input, triggerMetadata) => {
          const subject = `message ${message.messageId} (dequeue count ${message.dequeueCount})`;
          await invoke(fn, input, { triggerMetadata, subject });
        },
      }),
  );

  const byName = new Map(functions.map((f) => [f.name.toLowerCase(), f]));
  const listening = await listen(
    options.hostname ?? "localhost",
    options.port,
    createRequestListener({
      route: createRouter(httpFunctions, (f) => f.trigger),
      nonHttpFunction: (name) => {
        const fn = byName.get(name.toLowerCase());
        return fn?.trigger.kind === "http" ? undefined : fn;
      },
      runNonHttp: async (fn, input) => {
        if (fn.trigger.kind === "timer") return timers.fire(fn.name);
        await invoke(fn, parseQueueText(input), { triggerMetadata: { queueTrigger: input } });
      },
      invoke,
      logLine,
      // Above the largest body a route accepts (a group's 50,000 member ids), as Azure's 100 MB is.
      maxBodyBytes: options.maxRequestBodyBytes ?? 16 * 1024 * 1024,
      track,
    }),
  ).catch((error: unknown) => {
    timers.stop();
    throw error;
  });
  for (const listener of listeners) listener.start();

  let closing: Promise<void> | undefined;
  return {
    url: listening.url,
    port: listening.port,
    registrations: functions.map(describe),
    triggerTimer: (name) => timers.fire(name),
    close() {
      closing ??= (async () => {
        timers.stop();
        const { servers } = listening;
        const stoppedListening = Promise.all(
          servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
        );
        for (const s of servers) s.closeIdleConnections();
        await Promise.all(listeners.map((l) => l.stop()));
        while (inflight.size > 0) await Promise.allSettled([...inflight]);
        // Responses are written; drop keep-alive connections that would otherwise hold close().
        for (const s of servers) s.closeAllConnections();
        await stoppedListening;
      })();
      return closing;
    },
  };
}
