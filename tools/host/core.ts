/**
 * The `@azure/functions-core` module, as the Node worker supplies it, and the loading of function
 * modules under it. `@azure/functions` hands every `app.http/timer/storageQueue` registration to
 * this module; the host collects them per module while it imports that module.
 */
import Module from "node:module";
import { pathToFileURL } from "node:url";
import functionsLibrary from "@azure/functions";
import { z } from "zod";

export type Callable = (...args: unknown[]) => unknown;
export function isCallable(value: unknown): value is Callable {
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
const functionMetadataSchema = z.object({ name: z.string().min(1), bindings: z.record(z.string(), bindingSchema) });
export type BindingInfo = z.infer<typeof bindingSchema>;

/** One `registerFunction` call: the function's metadata and its handler. */
export interface Registration {
  metadata: z.infer<typeof functionMetadataSchema>;
  handler: Callable;
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
  byModule: Map<string, Registration[]>;
  /** Where `registerFunction` calls go while a module is being imported. */
  collecting: Registration[] | undefined;
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
      const target = state.collecting;
      if (target === undefined) {
        throw new Error(
          "registerFunction was called outside a function module being loaded by the local host; register functions at the top level of a module passed to startHost",
        );
      }
      const parsed = functionMetadataSchema.safeParse(metadata);
      if (!parsed.success) throw new Error(`invalid function metadata: ${parsed.error.message}`);
      if (!isCallable(callback)) throw new Error(`function ${parsed.data.name}: handler is not a function`);
      const entry = { metadata: parsed.data, handler: callback };
      target.push(entry);
      return new CoreDisposable(() => target.splice(target.indexOf(entry), 1));
    },
    registerHook(hookName: unknown): CoreDisposable {
      state.used = true;
      // The app registers no hooks, so this host runs none; a module that does fails to load here
      // rather than run without them. Outside a module load it is the host priming the lookup.
      if (state.collecting !== undefined) {
        throw new Error(`app.hook.${String(hookName)} is not supported by the local host`);
      }
      return new CoreDisposable(() => undefined);
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

/**
 * Imports each function module (absolute path or file URL) and returns what they registered, in
 * order. Sequential, so each registration is attributed to the module whose evaluation made it.
 * An error thrown while a module loads (a bad setting, say) propagates unchanged.
 */
export async function loadFunctionModules(files: readonly string[]): Promise<Registration[]> {
  installFunctionsCoreModule();
  primeLibrary();
  const core = coreState();
  const all: Registration[] = [];
  for (const file of files) {
    const url = file.startsWith("file:") ? file : pathToFileURL(file).href;
    let registrations = core.byModule.get(url);
    if (registrations === undefined) {
      registrations = [];
      core.collecting = registrations;
      try {
        await import(url);
      } finally {
        core.collecting = undefined;
      }
      core.byModule.set(url, registrations);
    }
    all.push(...registrations);
  }
  return all;
}
