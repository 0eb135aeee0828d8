/**
 * A local stand-in for the Azure Functions host (Core Tools cannot be installed here). It loads the
 * app's function modules exactly as the real Node worker does (they call `app.http/timer/
 * storageQueue` from `@azure/functions`, which hands every registration to the module
 * `@azure/functions-core`), then serves HTTP triggers, fires timers on their NCRONTAB schedule and
 * polls Storage queues with the Functions queue semantics (base64, batch, retries, poison queue).
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import Module from "node:module";
import { pathToFileURL } from "node:url";
import { format } from "node:util";
import functionsLibrary, {
  type Cookie,
  type FunctionInput,
  type FunctionOutput,
  type FunctionTrigger,
  type HttpRequest as HttpRequestType,
  type HttpResponse as HttpResponseType,
  type InvocationContext as InvocationContextType,
  type LogLevel,
  type Timer,
} from "@azure/functions";
import { QueueServiceClient, type QueueClient, type DequeuedMessageItem } from "@azure/storage-queue";
import { Cron } from "croner";
import { z } from "zod";

// The library is a webpack CommonJS bundle: Node's ESM loader sees `app` and `output` as named
// exports but not the classes, so they come from the default export (module.exports).
const { HttpRequest, HttpResponse, InvocationContext } = functionsLibrary;
type HttpRequest = HttpRequestType;
type HttpResponse = HttpResponseType;
type InvocationContext = InvocationContextType;

// ---------------------------------------------------------------------------------------------
// The `@azure/functions-core` module
// ---------------------------------------------------------------------------------------------

type Callable = (...args: unknown[]) => unknown;
function isCallable(value: unknown): value is Callable {
  return typeof value === "function";
}

/** `Disposable` as the worker ships it: the library returns it from `app.hook.*`. */
class CoreDisposable {
  #onDispose: (() => void) | undefined;
  constructor(onDispose: () => void) {
    this.#onDispose = onDispose;
  }
  dispose(): void {
    this.#onDispose?.();
    this.#onDispose = undefined;
  }
}

/** The metadata the library passes to `registerFunction` (`toCoreFunctionMetadata`). */
const bindingSchema = z.object({ type: z.string().min(1), direction: z.string().optional() }).loose();
const functionMetadataSchema = z
  .object({ name: z.string().min(1), bindings: z.record(z.string(), bindingSchema) })
  .loose();
type BindingInfo = z.infer<typeof bindingSchema>;

const hookNames = ["appStart", "appTerminate", "preInvocation", "postInvocation", "log"] as const;
type HookName = (typeof hookNames)[number];
function isHookName(name: unknown): name is HookName {
  return hookNames.some((h) => h === name);
}

/** What one function module registered while it was being imported. */
interface ModuleRegistrations {
  functions: { metadata: z.infer<typeof functionMetadataSchema>; handler: Callable }[];
  hooks: Record<HookName, Set<Callable>>;
}
function emptyRegistrations(): ModuleRegistrations {
  return {
    functions: [],
    hooks: {
      appStart: new Set(),
      appTerminate: new Set(),
      preInvocation: new Set(),
      postInvocation: new Set(),
      log: new Set(),
    },
  };
}

/**
 * The process-wide state behind `@azure/functions-core`. The library caches the module it got on
 * its first lookup, so everything it talks to must outlive any one host, and must be shared if
 * this file is ever evaluated twice in one process (test runners): hence one object on
 * `globalThis`.
 */
interface CoreState {
  /**
   * Registrations per module URL. ES modules run once per process, so a second host started in
   * the same process reuses what the first import captured instead of expecting it again.
   */
  byModule: Map<string, ModuleRegistrations>;
  /** Where `registerFunction` calls go while a module is being imported. */
  collecting: ModuleRegistrations | undefined;
  programmingModel: unknown;
  /** Whether the library ever reached this core module (false means it is in test mode). */
  used: boolean;
  api: object;
}

const coreStateKey = Symbol.for("sharing.localHost.functionsCore");

function isCoreState(value: unknown): value is CoreState {
  return typeof value === "object" && value !== null && "byModule" in value && "api" in value;
}

function coreState(): CoreState {
  const existing: unknown = Reflect.get(globalThis, coreStateKey);
  if (isCoreState(existing)) return existing;
  const state: CoreState = {
    byModule: new Map(),
    collecting: undefined,
    programmingModel: undefined,
    used: false,
    api: {},
  };
  state.api = createCoreApi(state);
  Reflect.defineProperty(globalThis, coreStateKey, { value: state });
  return state;
}

/** The object `require("@azure/functions-core")` returns; shaped like the worker's `setupCoreModule`. */
function createCoreApi(state: CoreState): object {
  const collector = (what: string): ModuleRegistrations => {
    if (state.collecting === undefined) {
      throw new Error(
        `${what} was called outside a function module being loaded by the local host; register functions at the top level of a module passed to startHost`,
      );
    }
    return state.collecting;
  };
  return {
    version: "3.12.0-local",
    hostVersion: "4.1000.0-local",
    setProgrammingModel(model: unknown): void {
      state.used = true;
      state.programmingModel = model;
    },
    getProgrammingModel(): unknown {
      return state.programmingModel;
    },
    registerFunction(metadata: unknown, callback: unknown): CoreDisposable {
      state.used = true;
      const target = collector("registerFunction");
      const parsed = functionMetadataSchema.safeParse(metadata);
      if (!parsed.success) throw new Error(`invalid function metadata: ${parsed.error.message}`);
      if (!isCallable(callback)) throw new Error(`function ${parsed.data.name}: handler is not a function`);
      const entry = { metadata: parsed.data, handler: callback };
      target.functions.push(entry);
      return new CoreDisposable(() => target.functions.splice(target.functions.indexOf(entry), 1));
    },
    registerHook(hookName: unknown, callback: unknown): CoreDisposable {
      state.used = true;
      if (!isHookName(hookName)) throw new RangeError(`unknown hook "${String(hookName)}"`);
      if (!isCallable(callback)) throw new Error(`hook ${hookName}: callback is not a function`);
      // Outside a module load (the host primes the lookup with a throw-away hook) it goes nowhere.
      const hooks = (state.collecting ?? emptyRegistrations()).hooks[hookName];
      hooks.add(callback);
      return new CoreDisposable(() => hooks.delete(callback));
    },
    /** System logs of the library (`workerSystemLog`): only warnings and errors are worth showing. */
    log(level: unknown, _category: unknown, message: unknown): void {
      if (level === "warning" || level === "error" || level === "critical")
        console.log(`[functions] ${String(message)}`);
    },
    Disposable: CoreDisposable,
  };
}

const hookInstalled = Symbol.for("sharing.localHost.functionsCoreHook");

/**
 * Supplies `@azure/functions-core` the way the worker does (`setupCoreModule`): a Proxy around
 * `Module.prototype.require`, which is what the library's CommonJS bundle calls. It must be in
 * place before the first `app.*` call, because the library asks once and caches the answer (a
 * miss puts it in "test mode" for good). Installed when this module is evaluated and again,
 * idempotently, by `startHost`.
 */
export function installFunctionsCoreModule(): void {
  if (Reflect.get(Module.prototype, hookInstalled) === true) return;
  const { api } = coreState();
  Module.prototype.require = new Proxy(Module.prototype.require, {
    apply(target, thisArg, args: unknown[]) {
      if (args[0] === "@azure/functions-core") return api;
      return Reflect.apply(target, thisArg, args);
    },
  });
  // Marked on the prototype itself, so a second copy of this file doesn't wrap require again.
  Reflect.defineProperty(Module.prototype, hookInstalled, { value: true });
}
installFunctionsCoreModule();

/**
 * Makes the library look the core module up now, while the hook is in place, and checks it found
 * ours: a module that called `app.*` before this host was loaded would have left it in test mode.
 */
function primeLibrary(): void {
  functionsLibrary.app.hook.appTerminate(() => undefined).dispose();
  if (!coreState().used) {
    throw new Error("@azure/functions is in test mode: something called app.* before the local host was loaded");
  }
}

// ---------------------------------------------------------------------------------------------
// host.json and bindings
// ---------------------------------------------------------------------------------------------

/** A .NET TimeSpan as host.json writes it (`[d.]hh:mm:ss[.fff]`), in milliseconds. */
const timeSpanSchema = z.union([
  z.number().nonnegative(),
  z
    .string()
    .regex(/^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/, "expected a TimeSpan like 00:00:05")
    .transform((s) => {
      const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/.exec(s);
      const [days, hours, minutes, seconds, fraction] = [m?.[1], m?.[2], m?.[3], m?.[4], m?.[5]].map((p) => p ?? "0");
      return (
        ((Number(days) * 24 + Number(hours)) * 60 + Number(minutes)) * 60_000 +
        Number(seconds) * 1000 +
        Number(`0.${fraction}`) * 1000
      );
    }),
]);

const hostJsonSchema = z
  .object({
    logging: z
      .object({ logLevel: z.record(z.string(), z.string()).optional() })
      .loose()
      .optional(),
    extensions: z
      .object({
        http: z.object({ routePrefix: z.string().optional() }).loose().optional(),
        queues: z
          .object({
            maxDequeueCount: z.number().int().min(1).optional(),
            visibilityTimeout: timeSpanSchema.optional(),
            batchSize: z.number().int().min(1).max(32).optional(),
            newBatchThreshold: z.number().int().min(0).optional(),
            maxPollingInterval: timeSpanSchema.optional(),
            messageEncoding: z.enum(["base64", "none"]).optional(),
          })
          .loose()
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

interface HostConfig {
  routePrefix: string;
  queues: {
    maxDequeueCount: number;
    visibilityTimeoutMs: number;
    batchSize: number;
    newBatchThreshold: number;
    maxPollingIntervalMs: number;
    base64: boolean;
  };
  verbose: boolean;
}

function parseHostJson(hostJson: unknown): HostConfig {
  const result = hostJsonSchema.safeParse(hostJson ?? {});
  if (!result.success) {
    throw new Error(`host.json: ${result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  const queues = result.data.extensions?.queues;
  const batchSize = queues?.batchSize ?? 16;
  const level = (result.data.logging?.logLevel?.default ?? "").toLowerCase();
  return {
    routePrefix: (result.data.extensions?.http?.routePrefix ?? "api").replace(/^\/+|\/+$/g, ""),
    queues: {
      maxDequeueCount: queues?.maxDequeueCount ?? 5,
      visibilityTimeoutMs: queues?.visibilityTimeout ?? 0,
      batchSize,
      newBatchThreshold: queues?.newBatchThreshold ?? Math.floor(batchSize / 2),
      // The Functions default is one minute; two seconds keeps a local loop responsive.
      maxPollingIntervalMs: queues?.maxPollingInterval ?? 2000,
      base64: (queues?.messageEncoding ?? "base64") === "base64",
    },
    verbose: level === "trace" || level === "debug",
  };
}

const httpTriggerSchema = z.object({
  route: z.string().optional(),
  methods: z.array(z.string().min(1)).optional(),
  authLevel: z.string().optional(),
});
const timerTriggerSchema = z.object({
  schedule: z.string().min(1),
  runOnStartup: z.boolean().optional(),
  useMonitor: z.boolean().optional(),
});
const queueBindingSchema = z.object({ queueName: z.string().min(1), connection: z.string().optional() });

type TriggerSpec =
  | { kind: "http"; route: CompiledRoute; methods: ReadonlySet<string> | null; authLevel: string }
  | { kind: "timer"; schedule: string; runOnStartup: boolean }
  | { kind: "queue"; queueName: string; connection: string }
  | { kind: "unsupported"; type: string };

type OutputSpec =
  | { kind: "http"; name: string }
  | { kind: "queue"; name: string; queueName: string; connection: string }
  | { kind: "unsupported"; name: string; type: string };

/** One registered function as this host understands it. */
export interface RegisteredFunction {
  name: string;
  /** The trigger's binding type, e.g. `httpTrigger`, `timerTrigger`, `queueTrigger`. */
  triggerType: string;
  /** For HTTP triggers, the full path template (e.g. `/api/items/{id?}`) and the allowed methods (null: any). */
  http?: { path: string; methods: string[] | null };
  /** For timers, the resolved NCRONTAB schedule. */
  schedule?: string;
  /** For queue triggers, the resolved queue name. */
  queueName?: string;
  /** The bindings exactly as the library registered them. */
  bindings: Record<string, BindingInfo>;
}

interface FunctionEntry {
  name: string;
  handler: Callable;
  trigger: TriggerSpec;
  triggerType: string;
  returnOutput: OutputSpec | undefined;
  extraOutputs: OutputSpec[];
  /** What `InvocationContext.options` shows, as the library's `fromRpcBindings` builds it. */
  options: {
    trigger: FunctionTrigger;
    return: FunctionOutput | undefined;
    extraInputs: FunctionInput[];
    extraOutputs: FunctionOutput[];
  };
  bindings: Record<string, BindingInfo>;
}

/** Resolves `%NAME%` binding expressions from settings, as the Functions host does. */
function resolveSettingExpressions(value: string, settings: Record<string, string | undefined>, where: string): string {
  return value.replace(/%([^%]+)%/g, (_match, name: string) => {
    const resolved = settings[name];
    if (resolved === undefined || resolved === "")
      throw new Error(`${where}: '%${name}%' does not resolve to a value (setting ${name} is not set)`);
    return resolved;
  });
}

function parseBinding<T>(schema: z.ZodType<T>, binding: BindingInfo, where: string): T {
  const result = schema.safeParse(binding);
  if (!result.success)
    throw new Error(`${where}: ${result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return result.data;
}

function toFunctionEntry(
  registration: ModuleRegistrations["functions"][number],
  settings: Record<string, string | undefined>,
  config: HostConfig,
): FunctionEntry {
  const { name, bindings } = registration.metadata;
  let trigger: TriggerSpec | undefined;
  let triggerType = "";
  let returnOutput: OutputSpec | undefined;
  const extraOutputs: OutputSpec[] = [];
  const options: FunctionEntry["options"] = {
    trigger: { type: "unknown", name: "unknown" },
    return: undefined,
    extraInputs: [],
    extraOutputs: [],
  };

  for (const [bindingName, binding] of Object.entries(bindings)) {
    const where = `function ${name}, binding ${bindingName}`;
    const type = binding.type.toLowerCase();
    const direction = (binding.direction ?? "in").toLowerCase();
    if (type.endsWith("trigger")) {
      if (trigger !== undefined) throw new Error(`function ${name} has more than one trigger`);
      triggerType = binding.type;
      options.trigger = { ...binding, name: bindingName };
      if (type === "httptrigger") {
        const http = parseBinding(httpTriggerSchema, binding, where);
        const methods = http.methods ?? ["GET", "POST"];
        trigger = {
          kind: "http",
          route: compileRoute(config.routePrefix, resolveSettingExpressions(http.route ?? name, settings, where)),
          methods: methods.length === 0 ? null : new Set(methods.map((m) => m.toUpperCase())),
          authLevel: http.authLevel ?? "anonymous",
        };
      } else if (type === "timertrigger") {
        const timer = parseBinding(timerTriggerSchema, binding, where);
        trigger = {
          kind: "timer",
          schedule: resolveSettingExpressions(timer.schedule, settings, where),
          runOnStartup: timer.runOnStartup ?? false,
        };
      } else if (type === "queuetrigger") {
        const queue = parseBinding(queueBindingSchema, binding, where);
        trigger = {
          kind: "queue",
          queueName: resolveSettingExpressions(queue.queueName, settings, where).toLowerCase(),
          connection: queue.connection || "AzureWebJobsStorage",
        };
      } else {
        trigger = { kind: "unsupported", type: binding.type };
      }
    } else if (direction === "out") {
      let output: OutputSpec;
      if (type === "http") {
        output = { kind: "http", name: bindingName };
      } else if (type === "queue") {
        const queue = parseBinding(queueBindingSchema, binding, where);
        output = {
          kind: "queue",
          name: bindingName,
          queueName: resolveSettingExpressions(queue.queueName, settings, where).toLowerCase(),
          connection: queue.connection || "AzureWebJobsStorage",
        };
      } else {
        output = { kind: "unsupported", name: bindingName, type: binding.type };
      }
      if (bindingName === "$return") {
        returnOutput = output;
        options.return = { ...binding, name: bindingName };
      } else {
        extraOutputs.push(output);
        options.extraOutputs.push({ ...binding, name: bindingName });
      }
    } else {
      // Input bindings (table, blob, …) are not provided by this host; the app reads storage itself.
      options.extraInputs.push({ ...binding, name: bindingName });
    }
  }
  if (trigger === undefined) throw new Error(`function ${name} has no trigger binding`);
  return { name, handler: registration.handler, trigger, triggerType, returnOutput, extraOutputs, options, bindings };
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

type SegmentMatcher =
  | { kind: "literal"; lower: string }
  | {
      kind: "param";
      name: string;
      optional: boolean;
      constraint: ((v: string) => boolean) | undefined;
      defaultValue: string | undefined;
    }
  | { kind: "complex"; regex: RegExp; names: string[] }
  | { kind: "catchAll"; name: string };

interface CompiledRoute {
  template: string;
  segments: SegmentMatcher[];
  /** Precedence per segment, compared in order: literal > complex > constrained > param > optional > catch-all. */
  precedence: number[];
}

const constraints: Record<string, (v: string) => boolean> = {
  int: (v) => /^-?\d+$/.test(v),
  long: (v) => /^-?\d+$/.test(v),
  bool: (v) => /^(true|false)$/i.test(v),
  guid: (v) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(v),
  alpha: (v) => /^[a-z]+$/i.test(v),
  double: (v) => v.trim() !== "" && !Number.isNaN(Number(v)),
  decimal: (v) => v.trim() !== "" && !Number.isNaN(Number(v)),
  float: (v) => v.trim() !== "" && !Number.isNaN(Number(v)),
};

/** Compiles an ASP.NET-style route template (`items/{id}`, `{id?}`, `{id:int}`, `{*rest}`). */
export function compileRoute(routePrefix: string, route: string): CompiledRoute {
  const template = [routePrefix, route.replace(/^\/+|\/+$/g, "")].filter((s) => s !== "").join("/");
  const segments: SegmentMatcher[] = [];
  const precedence: number[] = [];
  for (const raw of template.split("/").filter((s) => s !== "")) {
    const whole = /^\{(\*{1,2})?([A-Za-z_][\w]*)(?::([a-z]+)(?:\([^)]*\))?)?(\?)?(?:=([^}]*))?\}$/.exec(raw);
    if (whole) {
      const [, star, name = "", constraintName, optional, defaultValue] = whole;
      if (star) {
        segments.push({ kind: "catchAll", name });
        precedence.push(0);
      } else {
        const constraint = constraintName === undefined ? undefined : constraints[constraintName];
        segments.push({
          kind: "param",
          name,
          optional: optional === "?" || defaultValue !== undefined,
          constraint,
          defaultValue,
        });
        precedence.push(optional === "?" ? 1 : constraint ? 3 : 2);
      }
    } else if (raw.includes("{")) {
      const names: string[] = [];
      const source = raw
        .split(/(\{[^}]+\})/)
        .map((part) => {
          const param = /^\{([A-Za-z_]\w*)(?::[^}?]*)?\??\}$/.exec(part);
          if (param?.[1] !== undefined) {
            names.push(param[1]);
            return "(.+?)";
          }
          return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        })
        .join("");
      segments.push({ kind: "complex", regex: new RegExp(`^${source}$`, "i"), names });
      precedence.push(4);
    } else {
      segments.push({ kind: "literal", lower: raw.toLowerCase() });
      precedence.push(5);
    }
  }
  return { template: "/" + template, segments, precedence };
}

/** Matches decoded path segments against a route; returns the params or undefined. */
function matchRoute(route: CompiledRoute, path: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  const { segments } = route;
  let i = 0;
  for (let s = 0; s < segments.length; s++) {
    const segment = segments[s];
    if (segment === undefined) return undefined;
    const value = path[i];
    switch (segment.kind) {
      case "catchAll":
        if (i < path.length) params[segment.name] = path.slice(i).join("/");
        return params;
      case "literal":
        if (value === undefined || value.toLowerCase() !== segment.lower) return undefined;
        break;
      case "param":
        if (value === undefined) {
          if (!segment.optional) return undefined;
          if (segment.defaultValue !== undefined) params[segment.name] = segment.defaultValue;
          continue;
        }
        if (segment.constraint && !segment.constraint(value)) return undefined;
        params[segment.name] = value;
        break;
      case "complex": {
        if (value === undefined) return undefined;
        const m = segment.regex.exec(value);
        if (!m) return undefined;
        segment.names.forEach((name, n) => {
          const captured = m[n + 1];
          if (captured !== undefined) params[name] = captured;
        });
        break;
      }
    }
    i++;
  }
  return i === path.length ? params : undefined;
}

function comparePrecedence(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (b[i] ?? -1) - (a[i] ?? -1);
    if (diff !== 0) return diff;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The host
// ---------------------------------------------------------------------------------------------

export interface StartHostOptions {
  /** Function modules to load (absolute paths or file URLs), e.g. every `dist/functions/*.js`. */
  functionFiles: string[];
  /** HTTP port; 0 picks a free one (see `url`). */
  port: number;
  /** The parsed content of host.json (validated here). */
  hostJson?: unknown;
  /** Settings for `%NAME%` expressions and `connection` names; default `process.env`. */
  settings?: Record<string, string | undefined>;
  /**
   * Where to listen. Default "localhost": both 127.0.0.1 and ::1 (when the machine has it), so
   * `http://localhost:PORT` works whichever address a client resolves first, and nothing outside
   * the machine can connect.
   */
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

export interface LocalHost {
  /** Base URL, e.g. `http://127.0.0.1:7071` (the routes are under `/api/` there). */
  url: string;
  port: number;
  registrations: readonly RegisteredFunction[];
  /** Runs a timer function now, as the admin API does; resolves when it finished (rejects if it threw). */
  triggerTimer(name: string): Promise<void>;
  /** Stops HTTP, timers and queue polling, waits for in-flight invocations, runs appTerminate hooks. */
  close(): Promise<void>;
}

const problemType = "about:blank";

/** Starts the local host. Only one call per process should load a given function module set. */
export async function startHost(options: StartHostOptions): Promise<LocalHost> {
  installFunctionsCoreModule();
  primeLibrary();
  const settings = options.settings ?? process.env;
  const config = parseHostJson(options.hostJson);
  const logLine = options.logLine ?? ((line: string) => console.log(line));
  const maxBody = options.maxRequestBodyBytes ?? 1024 * 1024;
  const leaseSeconds = options.queueLeaseSeconds ?? 30;

  // Load every module, capturing what it registers. Sequential, so each registration is attributed
  // to the module whose evaluation made it.
  const core = coreState();
  const modules: ModuleRegistrations[] = [];
  for (const file of options.functionFiles) {
    const url = file.startsWith("file:") ? file : pathToFileURL(file).href;
    let registrations = core.byModule.get(url);
    if (registrations === undefined) {
      registrations = emptyRegistrations();
      core.collecting = registrations;
      try {
        await import(url);
      } finally {
        core.collecting = undefined;
      }
      core.byModule.set(url, registrations);
    }
    modules.push(registrations);
  }

  const functions: FunctionEntry[] = [];
  for (const module of modules) {
    for (const registration of module.functions) {
      if (functions.some((f) => f.name.toLowerCase() === registration.metadata.name.toLowerCase())) {
        throw new Error(`function ${registration.metadata.name} is registered twice`);
      }
      functions.push(toFunctionEntry(registration, settings, config));
    }
  }
  // Hooks are app-wide, as in the worker: one registered by any loaded module (often a shared one,
  // evaluated while the first function file loaded) applies to every function. Read at each use,
  // so a disposed hook stops at once.
  const distinctModules = [...new Set(modules)];
  const hooksOf = (name: HookName): Callable[] => distinctModules.flatMap((m) => [...m.hooks[name]]);
  const byName = new Map(functions.map((f) => [f.name.toLowerCase(), f]));
  const httpFunctions = functions
    .filter((f): f is FunctionEntry & { trigger: Extract<TriggerSpec, { kind: "http" }> } => f.trigger.kind === "http")
    .sort((a, b) => comparePrecedence(a.trigger.route.precedence, b.trigger.route.precedence));
  for (const f of functions) {
    if (f.trigger.kind === "unsupported")
      logLine(`[host] WARN: function ${f.name}: trigger ${f.trigger.type} is not supported locally; it will not fire`);
    for (const o of [f.returnOutput, ...f.extraOutputs]) {
      if (o?.kind === "unsupported")
        logLine(
          `[host] WARN: function ${f.name}: output binding ${o.type} is not supported locally; its values are dropped`,
        );
    }
  }

  for (const f of functions) {
    for (const spec of [f.trigger, f.returnOutput, ...f.extraOutputs]) {
      if (spec?.kind === "queue" && !settings[spec.connection]) {
        throw new Error(
          `function ${f.name}: setting ${spec.connection} (the queue connection) is not set; identity-based connections are not supported by the local host`,
        );
      }
    }
  }

  const appHookData: Record<string, unknown> = {};
  const listeners = new Map<string, QueueListener>();
  const timerCleanups: (() => void)[] = [];
  const startupTimers: (() => void)[] = [];
  const inflight = new Set<Promise<unknown>>();
  const track = <T>(promise: Promise<T>): Promise<T> => {
    inflight.add(promise);
    void promise.then(
      () => inflight.delete(promise),
      () => inflight.delete(promise),
    );
    return promise;
  };

  // --- invocation -------------------------------------------------------------------------------
  const userLog =
    (fn: string) =>
    (level: LogLevel, ...args: unknown[]) => {
      if ((level === "trace" || level === "debug") && !config.verbose) return;
      const prefix = level === "warning" ? "WARN: " : level === "error" || level === "critical" ? "ERROR: " : "";
      logLine(`[${fn}] ${prefix}${format(...args)}`);
    };

  const queues = new QueueClients(settings);

  /** Runs the handler with pre/post invocation hooks, as the worker does; returns its result. */
  async function invoke(fn: FunctionEntry, input: unknown, context: InvocationContext): Promise<unknown> {
    const hookData: Record<string, unknown> = {};
    let handler: Callable = fn.handler;
    let inputs: unknown[] = [input];
    for (const hook of hooksOf("preInvocation")) {
      const hookContext: {
        hookData: Record<string, unknown>;
        appHookData: Record<string, unknown>;
        invocationContext: InvocationContext;
        inputs: unknown[];
        functionCallback: unknown;
      } = {
        hookData,
        appHookData,
        invocationContext: context,
        inputs,
        functionCallback: handler,
      };
      await hook(hookContext);
      inputs = hookContext.inputs;
      if (isCallable(hookContext.functionCallback)) handler = hookContext.functionCallback;
    }
    let result: unknown;
    let error: unknown;
    try {
      result = await handler(...inputs, context);
    } catch (e) {
      error = e ?? new Error("the function threw without an error");
    }
    const postHooks = hooksOf("postInvocation");
    if (postHooks.length > 0) {
      const hookContext = { hookData, appHookData, invocationContext: context, inputs, result, error };
      for (const hook of postHooks) await hook(hookContext);
      result = hookContext.result;
      error = hookContext.error;
    }
    if (error !== undefined) throw error;
    return result;
  }

  function newContext(fn: FunctionEntry, triggerMetadata?: Record<string, unknown>): InvocationContext {
    return new InvocationContext({
      invocationId: randomUUID(),
      functionName: fn.name,
      logHandler: userLog(fn.name),
      options: fn.options,
      ...(triggerMetadata ? { triggerMetadata } : {}),
    });
  }

  /** Sends what the function put in its queue output bindings (Functions writes them after success). */
  async function flushQueueOutputs(fn: FunctionEntry, context: InvocationContext, result: unknown): Promise<void> {
    const writes: Promise<void>[] = [];
    const write = (spec: OutputSpec | undefined, value: unknown): void => {
      if (spec?.kind !== "queue" || value === undefined || value === null) return;
      for (const item of Array.isArray(value) ? value : [value]) {
        writes.push(
          queues
            .send(spec.connection, spec.queueName, encodeQueueMessage(item, config.queues.base64))
            .then(() => listeners.get(queueKey(settings, spec.connection, spec.queueName))?.wake()),
        );
      }
    };
    write(fn.returnOutput, result);
    for (const spec of fn.extraOutputs) write(spec, context.extraOutputs.get(spec.name));
    await Promise.all(writes);
  }

  // --- HTTP -----------------------------------------------------------------------------------
  async function handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawUrl = req.url ?? "/";
    const method = (req.method ?? "GET").toUpperCase();
    const q = rawUrl.indexOf("?");
    const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
    let path: string[];
    try {
      path = rawPath
        .split("/")
        .filter((s) => s !== "")
        .map(decodeURIComponent);
    } catch {
      return sendProblem(res, 400, "Bad Request", "The request path is not validly percent-encoded.");
    }

    if (path[0]?.toLowerCase() === "admin") return handleAdmin(req, res, method, path, rawUrl);

    let allowed: Set<string> | undefined;
    let match: { fn: FunctionEntry; params: Record<string, string> } | undefined;
    for (const fn of httpFunctions) {
      const params = matchRoute(fn.trigger.route, path);
      if (params === undefined) continue;
      if (fn.trigger.methods === null || fn.trigger.methods.has(method)) {
        match = { fn, params };
        break;
      }
      allowed ??= new Set();
      for (const m of fn.trigger.methods) allowed.add(m);
    }
    if (match === undefined) {
      if (allowed !== undefined) {
        res.setHeader("allow", [...allowed].join(", "));
        return sendProblem(res, 405, "Method Not Allowed", `${method} is not allowed on ${rawPath}.`);
      }
      return sendProblem(res, 404, "Not Found", `No function serves ${method} ${rawPath}.`);
    }

    const body = await readBody(req, maxBody);
    if (body === "tooLarge") {
      res.setHeader("connection", "close");
      return sendProblem(res, 413, "Payload Too Large", `The request body exceeds ${maxBody} bytes.`);
    }

    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      // Easy Auth's identity headers: only Azure's front end may set them, so never trust a caller's.
      if (value === undefined || name.startsWith("x-ms-client-principal")) continue;
      headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }

    const { fn, params } = match;
    let request: HttpRequest;
    try {
      request = new HttpRequest({
        method,
        url: `http://${req.headers.host ?? `127.0.0.1:${port}`}${rawUrl}`,
        headers,
        params,
        ...(body.length > 0 ? { body: { bytes: body } } : {}),
      });
    } catch {
      return sendProblem(res, 400, "Bad Request", "The request could not be read.");
    }
    const context = newContext(fn);
    let response: WireResponse | undefined;
    try {
      const result = await invoke(fn, request, context);
      const httpOutput =
        fn.returnOutput?.kind === "http"
          ? result
          : context.extraOutputs.get(fn.extraOutputs.find((o) => o.kind === "http")?.name ?? "");
      response = await toWireResponse(httpOutput);
      await flushQueueOutputs(fn, context, result);
    } catch (error) {
      logLine(
        `[${fn.name}] ERROR: invocation ${context.invocationId} failed: ${error instanceof Error ? (error.stack ?? error.message) : format(error)}`,
      );
      return sendProblem(res, 500, "Internal Server Error", "The function failed. The host log has the details.", {
        invocationId: context.invocationId,
      });
    }
    writeWireResponse(res, response, method);
  }

  // The admin API (`POST /admin/functions/{name}`) runs a non-HTTP function now, as in Azure. Only
  // reachable on the loopback interfaces this host listens on. `?wait=true` (local extension)
  // answers when the invocation finished.
  async function handleAdmin(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    path: string[],
    rawUrl: string,
  ): Promise<void> {
    const fn =
      path.length === 3 && path[1]?.toLowerCase() === "functions"
        ? byName.get((path[2] ?? "").toLowerCase())
        : undefined;
    if (fn === undefined || fn.trigger.kind === "http")
      return sendProblem(res, 404, "Not Found", `No non-HTTP function at ${rawUrl}.`);
    if (method !== "POST") {
      res.setHeader("allow", "POST");
      return sendProblem(res, 405, "Method Not Allowed", "Use POST to run a function.");
    }
    const body = await readBody(req, maxBody);
    if (body === "tooLarge")
      return sendProblem(res, 413, "Payload Too Large", `The request body exceeds ${maxBody} bytes.`);
    const parsed = adminBodySchema.safeParse(body.length === 0 ? {} : safeJson(body.toString("utf8")));
    if (!parsed.success) return sendProblem(res, 400, "Bad Request", 'Expected a JSON body like {"input": "..."}.');
    const run = track(runAdmin(fn, parsed.data.input ?? ""));
    if (!/[?&]wait=(true|1)(&|$)/i.test(rawUrl)) {
      run.catch(() => undefined);
      res.writeHead(202, { "content-length": "0" }).end();
      return;
    }
    try {
      await run;
      res.writeHead(204).end();
    } catch {
      sendProblem(res, 500, "Internal Server Error", `${fn.name} failed. The host log has the details.`);
    }
  }

  async function runAdmin(fn: FunctionEntry, input: string): Promise<void> {
    if (fn.trigger.kind === "timer") return fireTimer(fn, false);
    const context = newContext(fn, { queueTrigger: input });
    try {
      const result = await invoke(fn, parseQueueText(input), context);
      await flushQueueOutputs(fn, context, result);
    } catch (error) {
      logLine(`[${fn.name}] ERROR: ${error instanceof Error ? (error.stack ?? error.message) : format(error)}`);
      throw error;
    }
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    track(
      handleHttp(req, res).catch((error: unknown) => {
        logLine(`[host] ERROR: ${error instanceof Error ? (error.stack ?? error.message) : format(error)}`);
        if (!res.headersSent) sendProblem(res, 500, "Internal Server Error", "The host failed to handle the request.");
        else res.destroy();
      }),
    );
  };

  // appStart hooks run before anything is served, as in the worker.
  for (const hook of hooksOf("appStart")) await hook({ hookData: appHookData });

  const servers: Server[] = [];
  const hostname = options.hostname ?? "localhost";
  const primaryHost = hostname === "localhost" ? "127.0.0.1" : hostname;
  const primary = createServer({ keepAliveTimeout: 5000 }, onRequest);
  await listen(primary, primaryHost, options.port);
  servers.push(primary);
  const address = primary.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  if (hostname === "localhost") {
    const v6 = createServer({ keepAliveTimeout: 5000 }, onRequest);
    try {
      await listen(v6, "::1", port);
      servers.push(v6);
    } catch {
      // No IPv6 loopback on this machine: 127.0.0.1 alone serves "localhost".
    }
  }
  const urlHost = primaryHost.includes(":") ? `[${primaryHost}]` : primaryHost;

  // --- timers -----------------------------------------------------------------------------------
  const timerState = new Map<
    string,
    { job: Cron | undefined; last: Date | undefined; running: Promise<void> | undefined }
  >();
  const timezone = settings.WEBSITE_TIME_ZONE || "UTC";

  async function fireTimer(fn: FunctionEntry, isPastDue: boolean): Promise<void> {
    if (fn.trigger.kind !== "timer") throw new Error(`${fn.name} is not a timer function`);
    const state = timerState.get(fn.name);
    const now = new Date();
    const next = state?.job?.nextRun() ?? nextOccurrence(fn.trigger.schedule, timezone, now);
    const timer: Timer = {
      isPastDue,
      schedule: { adjustForDST: true },
      scheduleStatus: {
        // .NET DateTime.MinValue, what Functions reports before the first run.
        last: state?.last?.toISOString() ?? "0001-01-01T00:00:00",
        next: (next ?? now).toISOString(),
        lastUpdated: now.toISOString(),
      },
    };
    if (state) state.last = now;
    const context = newContext(fn);
    try {
      const result = await invoke(fn, timer, context);
      await flushQueueOutputs(fn, context, result);
    } catch (error) {
      logLine(
        `[${fn.name}] ERROR: invocation ${context.invocationId} failed: ${error instanceof Error ? (error.stack ?? error.message) : format(error)}`,
      );
      throw error;
    }
  }

  let closed = false;
  for (const fn of functions) {
    if (fn.trigger.kind !== "timer") continue;
    const { schedule, runOnStartup } = fn.trigger;
    const state: { job: Cron | undefined; last: Date | undefined; running: Promise<void> | undefined } = {
      job: undefined,
      last: undefined,
      running: undefined,
    };
    timerState.set(fn.name, state);
    const interval = timeSpanInterval(schedule);
    // Timer functions are singletons in Azure: a run that is due while the previous one still
    // runs is skipped rather than overlapped.
    const fire = (): void => {
      if (closed || state.running) return;
      state.running = track(fireTimer(fn, false))
        .catch(() => undefined)
        .finally(() => (state.running = undefined));
    };
    if (!options.disableTimerSchedules) {
      if (interval !== undefined) {
        const handle = setInterval(fire, interval);
        state.job = undefined;
        timerCleanups.push(() => clearInterval(handle));
      } else {
        const job = new Cron(schedule, { timezone, mode: "6-part", domAndDow: true }, fire);
        state.job = job;
        timerCleanups.push(() => job.stop());
      }
    } else if (interval === undefined) {
      // Still validate the expression so a bad schedule fails at start, not in Azure.
      new Cron(schedule, { timezone, mode: "6-part", domAndDow: true, paused: true }).stop();
    }
    if (runOnStartup) startupTimers.push(fire);
  }

  // --- queues -----------------------------------------------------------------------------------
  for (const fn of functions) {
    if (fn.trigger.kind !== "queue") continue;
    const listener = new QueueListener(fn, fn.trigger, {
      queues,
      config: config.queues,
      leaseSeconds,
      logLine,
      track,
      run: async (message, input, triggerMetadata) => {
        const context = newContext(fn, triggerMetadata);
        try {
          const result = await invoke(fn, input, context);
          await flushQueueOutputs(fn, context, result);
        } catch (error) {
          logLine(
            `[${fn.name}] ERROR: message ${message.messageId} (dequeue count ${message.dequeueCount}) failed: ${error instanceof Error ? (error.stack ?? error.message) : format(error)}`,
          );
          throw error;
        }
      },
    });
    listeners.set(queueKey(settings, fn.trigger.connection, fn.trigger.queueName), listener);
  }
  for (const listener of listeners.values()) listener.start();
  for (const fire of startupTimers) fire();

  const registrations: RegisteredFunction[] = functions.map((f) => ({
    name: f.name,
    triggerType: f.triggerType,
    bindings: f.bindings,
    ...(f.trigger.kind === "http"
      ? { http: { path: f.trigger.route.template, methods: f.trigger.methods ? [...f.trigger.methods] : null } }
      : {}),
    ...(f.trigger.kind === "timer" ? { schedule: f.trigger.schedule } : {}),
    ...(f.trigger.kind === "queue" ? { queueName: f.trigger.queueName } : {}),
  }));

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    registrations,
    async triggerTimer(name) {
      const fn = byName.get(name.toLowerCase());
      if (fn?.trigger.kind !== "timer") throw new Error(`no timer function named ${name}`);
      await track(fireTimer(fn, false));
    },
    close() {
      closing ??= (async () => {
        closed = true;
        for (const cleanup of timerCleanups) cleanup();
        const stoppedListening = Promise.all(
          servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
        );
        for (const s of servers) s.closeIdleConnections();
        await Promise.all([...listeners.values()].map((l) => l.stop()));
        while (inflight.size > 0) await Promise.allSettled([...inflight]);
        // Responses are written; drop keep-alive connections that would otherwise hold close().
        for (const s of servers) s.closeAllConnections();
        await stoppedListening;
        for (const hook of hooksOf("appTerminate"))
          await Promise.resolve(hook({ hookData: appHookData })).catch(() => undefined);
      })();
      return closing;
    },
  };
}

const adminBodySchema = z.object({ input: z.string().optional() }).loose();

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Reads the body up to `limit` bytes; beyond it drains the rest (so the client sees the 413) and says so. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | "tooLarge"> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared === 0) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number.isFinite(declared) && declared > limit;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
      // Draining has a ceiling: past it, cut the connection rather than read on.
      if (size > 64 * limit) req.destroy();
    });
    req.on("end", () =>
      resolve(tooLarge ? "tooLarge" : chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks)),
    );
    req.on("error", reject);
    req.on("close", () => (tooLarge ? resolve("tooLarge") : undefined));
  });
}

function sendProblem(
  res: ServerResponse,
  status: number,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ type: problemType, title, status, detail, ...extra });
  res.writeHead(status, { "content-type": "application/problem+json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** A response ready to write: what the Functions host gets back from a non-streaming worker. */
interface WireResponse {
  status: number;
  headers: Headers;
  /** Every Set-Cookie value, from the headers and from `cookies`. */
  cookies: string[];
  body: Buffer | undefined;
}

const nullBodyStatuses = new Set([204, 205, 304]);

/**
 * Turns what a handler returned into a response, as the library's `toRpcHttp` does: an
 * `HttpResponse` as is, any other object through `new HttpResponse(init)`, buffered. The common
 * plain `{status, headers, jsonBody | body: string | bytes}` skips the fetch `Response` and its
 * stream, with the same result (status range, header validation, default content types).
 */
async function toWireResponse(value: unknown): Promise<WireResponse | undefined> {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object") {
    throw new Error(
      'The HTTP response must be an object with optional properties "body", "status", "headers", and "cookies".',
    );
  }
  if (!(value instanceof HttpResponse)) {
    const plain = plainWireResponse(value);
    if (plain !== undefined) return plain;
  }
  const response = value instanceof HttpResponse ? value : new HttpResponse(value);
  const cookies = [...response.headers.getSetCookie(), ...response.cookies.map(serializeCookie)];
  const body =
    nullBodyStatuses.has(response.status) || response.body === null
      ? undefined
      : Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, cookies, body };
}

/** The fast path of `toWireResponse`; undefined when the value needs the full `HttpResponse`. */
function plainWireResponse(init: object): WireResponse | undefined {
  const status = "status" in init && init.status !== undefined ? init.status : 200;
  if (typeof status !== "number" || !Number.isInteger(status) || status < 200 || status > 599) return undefined;
  if ("cookies" in init && init.cookies !== undefined) return undefined;
  if ("enableContentNegotiation" in init && init.enableContentNegotiation) return undefined;

  const headersInit = "headers" in init ? init.headers : undefined;
  let headers: Headers;
  if (headersInit === undefined || headersInit === null) {
    headers = new Headers();
  } else if (headersInit instanceof Headers) {
    headers = new Headers(headersInit);
  } else if (typeof headersInit === "object" && !Array.isArray(headersInit)) {
    headers = new Headers();
    for (const [name, headerValue] of Object.entries(headersInit)) {
      if (typeof headerValue !== "string") return undefined;
      headers.append(name, headerValue);
    }
  } else {
    return undefined;
  }
  const nullBody = nullBodyStatuses.has(status);
  const jsonBody = "jsonBody" in init ? init.jsonBody : undefined;
  if (jsonBody !== undefined && jsonBody !== null && !nullBody) {
    const text: unknown = JSON.stringify(jsonBody);
    if (typeof text !== "string") return undefined;
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    return { status, headers, cookies: headers.getSetCookie(), body: Buffer.from(text, "utf8") };
  }
  const body = "body" in init ? init.body : undefined;
  let bytes: Buffer | undefined;
  if (nullBody || body === undefined || body === null) {
    bytes = undefined;
  } else if (typeof body === "string") {
    if (!headers.has("content-type")) headers.set("content-type", "text/plain;charset=UTF-8");
    bytes = Buffer.from(body, "utf8");
  } else if (body instanceof Uint8Array) {
    bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  } else if (body instanceof ArrayBuffer) {
    bytes = Buffer.from(body);
  } else {
    return undefined;
  }
  return { status, headers, cookies: headers.getSetCookie(), body: bytes };
}

function writeWireResponse(res: ServerResponse, response: WireResponse | undefined, method: string): void {
  if (response === undefined) {
    // Nothing returned: an empty success, without a body.
    res.writeHead(204).end();
    return;
  }
  const { status } = response;
  for (const [name, value] of response.headers) {
    if (name !== "set-cookie") res.setHeader(name, value);
  }
  if (response.cookies.length > 0) res.setHeader("set-cookie", response.cookies);
  if (method === "HEAD" || nullBodyStatuses.has(status)) {
    res.writeHead(status).end();
    return;
  }
  // Buffered like the non-streaming Functions host: one write, with an exact length.
  const body = response.body ?? Buffer.alloc(0);
  res.setHeader("content-length", body.length);
  res.writeHead(status).end(body);
}

function serializeCookie(cookie: Cookie): string {
  const parts = [`${cookie.name}=${cookie.value}`];
  if (cookie.domain) parts.push(`Domain=${cookie.domain}`);
  if (cookie.path) parts.push(`Path=${cookie.path}`);
  if (cookie.expires !== undefined) parts.push(`Expires=${new Date(cookie.expires).toUTCString()}`);
  if (cookie.maxAge !== undefined) parts.push(`Max-Age=${cookie.maxAge}`);
  if (cookie.secure) parts.push("Secure");
  if (cookie.httpOnly) parts.push("HttpOnly");
  if (cookie.sameSite) parts.push(`SameSite=${cookie.sameSite}`);
  return parts.join("; ");
}

/** Azure also accepts a TimeSpan (`hh:mm:ss`) as a timer schedule: a fixed interval. */
function timeSpanInterval(schedule: string): number | undefined {
  if (!/^\d{1,2}:\d{2}:\d{2}$/.test(schedule)) return undefined;
  const parsed = timeSpanSchema.safeParse(schedule);
  return parsed.success && parsed.data > 0 ? parsed.data : undefined;
}

function nextOccurrence(schedule: string, timezone: string, from: Date): Date | undefined {
  const interval = timeSpanInterval(schedule);
  if (interval !== undefined) return new Date(from.getTime() + interval);
  return new Cron(schedule, { timezone, mode: "6-part", domAndDow: true, paused: true }).nextRun(from) ?? undefined;
}

// ---------------------------------------------------------------------------------------------
// Queues
// ---------------------------------------------------------------------------------------------

function queueKey(settings: Record<string, string | undefined>, connection: string, queueName: string): string {
  return `${settings[connection] ?? connection}|${queueName}`;
}

/** Turns an output binding value into message text, as the Functions queue output binding does. */
function encodeQueueMessage(value: unknown, base64: boolean): string {
  const text = typeof value === "string" ? value : value instanceof Uint8Array ? undefined : JSON.stringify(value);
  if (!base64) return text ?? Buffer.from(value instanceof Uint8Array ? value : []).toString("utf8");
  return text === undefined
    ? Buffer.from(value instanceof Uint8Array ? value : []).toString("base64")
    : Buffer.from(text, "utf8").toString("base64");
}

/** The handler gets the message JSON-parsed when it parses, else the text (Functions does the same). */
function parseQueueText(text: string): unknown {
  const trimmed = text.trimStart();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/;

/** Queue clients per connection setting and queue, with each queue created once. */
class QueueClients {
  readonly #settings: Record<string, string | undefined>;
  readonly #services = new Map<string, QueueServiceClient>();
  readonly #queues = new Map<string, { client: QueueClient; ready: Promise<unknown> }>();
  constructor(settings: Record<string, string | undefined>) {
    this.#settings = settings;
  }

  get(connection: string, queueName: string): { client: QueueClient; ready: Promise<unknown> } {
    const key = `${connection}|${queueName}`;
    let entry = this.#queues.get(key);
    if (entry === undefined) {
      let service = this.#services.get(connection);
      if (service === undefined) {
        const connectionString = this.#settings[connection];
        if (!connectionString) {
          throw new Error(
            `setting ${connection} (a queue binding's connection) is not set; identity-based connections are not supported by the local host`,
          );
        }
        service = QueueServiceClient.fromConnectionString(connectionString);
        this.#services.set(connection, service);
      }
      const client = service.getQueueClient(queueName);
      const ready = client.createIfNotExists();
      // Let the next caller try again if creating failed (storage not up yet, say).
      ready.catch(() => this.#queues.delete(key));
      entry = { client, ready };
      this.#queues.set(key, entry);
    }
    return entry;
  }

  async send(connection: string, queueName: string, text: string): Promise<void> {
    const { client, ready } = this.get(connection, queueName);
    await ready;
    await client.sendMessage(text);
  }
}

interface ListenerDeps {
  queues: QueueClients;
  config: HostConfig["queues"];
  leaseSeconds: number;
  logLine: (line: string) => void;
  track: <T>(promise: Promise<T>) => Promise<T>;
  run: (message: DequeuedMessageItem, input: unknown, triggerMetadata: Record<string, unknown>) => Promise<void>;
}

/**
 * Polls one queue for one function with the semantics of the Functions queue trigger: batches
 * processed concurrently, a new batch fetched when in-flight work drops to `newBatchThreshold`,
 * exponential back-off up to `maxPollingInterval` while the queue is empty, retries with
 * `visibilityTimeout`, and `<queue>-poison` after `maxDequeueCount` failures.
 */
class QueueListener {
  readonly #fn: FunctionEntry;
  readonly #trigger: Extract<TriggerSpec, { kind: "queue" }>;
  readonly #deps: ListenerDeps;
  #stopped = false;
  #inflight = 0;
  #loop: Promise<void> | undefined;
  #wakeUp: (() => void) | undefined;
  /** A wake-up that came while the loop was not sleeping; the next sleep returns at once. */
  #wakePending = false;

  constructor(fn: FunctionEntry, trigger: Extract<TriggerSpec, { kind: "queue" }>, deps: ListenerDeps) {
    this.#fn = fn;
    this.#trigger = trigger;
    this.#deps = deps;
  }

  start(): void {
    this.#loop ??= this.#poll();
  }

  /** Cuts the current back-off short: a message was just sent to this queue by this host. */
  wake(): void {
    if (this.#wakeUp) this.#wakeUp();
    else this.#wakePending = true;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.wake();
    await this.#loop;
  }

  #sleep(ms: number): Promise<void> {
    if (this.#wakePending || this.#stopped) {
      this.#wakePending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakeUp = done;
    });
  }

  async #poll(): Promise<void> {
    const { config, queues, logLine } = this.#deps;
    const minDelay = 100;
    let delay = minDelay;
    while (!this.#stopped) {
      if (this.#inflight > config.newBatchThreshold) {
        // Wait until enough of the batch has finished (each completion wakes this loop).
        await this.#sleep(config.maxPollingIntervalMs);
        continue;
      }
      let messages: DequeuedMessageItem[];
      try {
        const { client, ready } = queues.get(this.#trigger.connection, this.#trigger.queueName);
        await ready;
        const response = await client.receiveMessages({
          numberOfMessages: Math.min(32, config.batchSize - this.#inflight),
          visibilityTimeout: this.#deps.leaseSeconds,
        });
        messages = response.receivedMessageItems;
      } catch (error) {
        if (this.#stopped) break;
        logLine(
          `[host] WARN: polling queue ${this.#trigger.queueName} for ${this.#fn.name} failed: ${error instanceof Error ? error.message : format(error)}`,
        );
        messages = [];
      }
      if (messages.length === 0) {
        await this.#sleep(delay);
        delay = Math.min(delay * 2, config.maxPollingIntervalMs);
        continue;
      }
      delay = minDelay;
      if (this.#stopped) {
        // Received while closing: hand them straight back rather than start work nobody waits for.
        const { client } = queues.get(this.#trigger.connection, this.#trigger.queueName);
        await Promise.allSettled(messages.map((m) => client.updateMessage(m.messageId, m.popReceipt, undefined, 0)));
        break;
      }
      for (const message of messages) {
        this.#inflight++;
        void this.#deps
          .track(this.#process(message))
          .catch((error: unknown) =>
            logLine(
              `[host] ERROR: queue ${this.#trigger.queueName}: ${error instanceof Error ? error.message : format(error)}`,
            ),
          )
          .finally(() => {
            this.#inflight--;
            this.wake();
          });
      }
    }
  }

  async #process(message: DequeuedMessageItem): Promise<void> {
    const { config, queues, leaseSeconds, logLine } = this.#deps;
    const queueName = this.#trigger.queueName;
    const { client } = queues.get(this.#trigger.connection, queueName);
    // The pop receipt changes with every lease renewal; delete and release need the latest one.
    let popReceipt = message.popReceipt;
    let renewal: Promise<void> = Promise.resolve();
    const renewTimer = setInterval(
      () => {
        renewal = client.updateMessage(message.messageId, popReceipt, undefined, leaseSeconds).then(
          (r) => {
            if (r.popReceipt) popReceipt = r.popReceipt;
          },
          () => undefined,
        );
      },
      (leaseSeconds * 1000) / 2,
    );

    const poison = async (reason: string): Promise<void> => {
      logLine(`[host] WARN: moving message ${message.messageId} to ${queueName}-poison: ${reason}`);
      // Same body as received; sent before the delete so a crash in between duplicates, never loses.
      await queues.send(this.#trigger.connection, `${queueName}-poison`, message.messageText);
      await renewal;
      await client.deleteMessage(message.messageId, popReceipt);
    };

    try {
      if (message.dequeueCount > config.maxDequeueCount) {
        // Received more often than allowed without ever failing in a handler: the host died mid-run.
        await poison(`dequeue count ${message.dequeueCount} exceeds maxDequeueCount ${config.maxDequeueCount}`);
        return;
      }
      let text = message.messageText;
      if (config.base64) {
        if (!base64Pattern.test(text) || text.length % 4 !== 0) {
          // No retry can make it decodable.
          await poison("the message is not valid base64 (the Functions queue trigger expects base64)");
          return;
        }
        text = Buffer.from(text, "base64").toString("utf8");
      }
      const triggerMetadata: Record<string, unknown> = {
        queueTrigger: text,
        dequeueCount: message.dequeueCount,
        id: message.messageId,
        popReceipt: message.popReceipt,
        insertionTime: message.insertedOn.toISOString(),
        expirationTime: message.expiresOn.toISOString(),
        nextVisibleTime: message.nextVisibleOn.toISOString(),
        sys: { methodName: this.#fn.name, utcNow: new Date().toISOString(), randGuid: randomUUID() },
      };
      let failed = false;
      try {
        await this.#deps.run(message, parseQueueText(text), triggerMetadata);
      } catch {
        failed = true;
      }
      clearInterval(renewTimer);
      await renewal;
      if (!failed) {
        await client.deleteMessage(message.messageId, popReceipt);
      } else if (message.dequeueCount >= config.maxDequeueCount) {
        await poison(`failed ${message.dequeueCount} times`);
      } else {
        // Back on the queue after visibilityTimeout, to be tried again.
        await client.updateMessage(
          message.messageId,
          popReceipt,
          undefined,
          Math.round(config.visibilityTimeoutMs / 1000),
        );
      }
    } finally {
      clearInterval(renewTimer);
    }
  }
}
