/**
 * host.json and the bindings the library registers, read into what this host serves. Only what the
 * app uses is emulated: HTTP triggers answering through `$return`, NCRONTAB timers and queue
 * triggers. Anything else fails at start, naming the function, rather than being ignored.
 */
import { z } from "zod";
import type { BindingInfo, Callable, Registration } from "./core.js";
import { compileRoute, type CompiledRoute } from "./routing.js";

const timeSpanPattern = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/;

/** A .NET TimeSpan as host.json writes it (`[d.]hh:mm:ss[.fff]`), in milliseconds. */
const timeSpanSchema = z.union([
  z.number().nonnegative(),
  z
    .string()
    .regex(timeSpanPattern, "expected a TimeSpan like 00:00:05")
    .transform((s) => {
      const m = timeSpanPattern.exec(s);
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
            // Messages are base64, the Functions default; "none" is not emulated.
            messageEncoding: z.literal("base64").optional(),
          })
          .loose()
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

export interface QueueConfig {
  maxDequeueCount: number;
  visibilityTimeoutMs: number;
  batchSize: number;
  newBatchThreshold: number;
  maxPollingIntervalMs: number;
}

export interface HostConfig {
  routePrefix: string;
  queues: QueueConfig;
}

/** Reads host.json with the Functions defaults for what it leaves out. */
export function parseHostJson(hostJson: unknown): HostConfig {
  const result = hostJsonSchema.safeParse(hostJson ?? {});
  if (!result.success) throw new Error(`host.json: ${describeIssues(result.error)}`);
  const queues = result.data.extensions?.queues;
  const batchSize = queues?.batchSize ?? 16;
  return {
    routePrefix: (result.data.extensions?.http?.routePrefix ?? "api").replace(/^\/+|\/+$/g, ""),
    queues: {
      maxDequeueCount: queues?.maxDequeueCount ?? 5,
      visibilityTimeoutMs: queues?.visibilityTimeout ?? 0,
      batchSize,
      newBatchThreshold: queues?.newBatchThreshold ?? Math.floor(batchSize / 2),
      // The Functions default is one minute; two seconds keeps a local loop responsive.
      maxPollingIntervalMs: queues?.maxPollingInterval ?? 2000,
    },
  };
}

const httpTriggerSchema = z.object({ route: z.string().optional(), methods: z.array(z.string().min(1)).optional() });
const timerTriggerSchema = z.object({
  schedule: z.string().min(1),
  runOnStartup: z.literal(false, "runOnStartup is not supported by the local host").optional(),
});
const queueTriggerSchema = z.object({ queueName: z.string().min(1), connection: z.string().optional() });

export type Trigger =
  | { kind: "http"; route: CompiledRoute; methods: ReadonlySet<string> }
  | { kind: "timer"; schedule: string }
  | { kind: "queue"; queueName: string; connection: string };

/** One registered function as this host serves it. */
export interface FunctionEntry<T extends Trigger = Trigger> {
  name: string;
  handler: Callable;
  trigger: T;
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

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
}

function parseBinding<T>(schema: z.ZodType<T>, binding: BindingInfo, where: string): T {
  const result = schema.safeParse(binding);
  if (!result.success) throw new Error(`${where}: ${describeIssues(result.error)}`);
  return result.data;
}

function toTrigger(
  fn: string,
  binding: BindingInfo,
  settings: Record<string, string | undefined>,
  config: HostConfig,
  where: string,
): Trigger {
  switch (binding.type.toLowerCase()) {
    case "httptrigger": {
      const http = parseBinding(httpTriggerSchema, binding, where);
      const methods = http.methods ?? ["GET", "POST"];
      return {
        kind: "http",
        route: compileRoute(config.routePrefix, resolveSettingExpressions(http.route ?? fn, settings, where)),
        methods: new Set(methods.map((m) => m.toUpperCase())),
      };
    }
    case "timertrigger": {
      const timer = parseBinding(timerTriggerSchema, binding, where);
      return { kind: "timer", schedule: resolveSettingExpressions(timer.schedule, settings, where) };
    }
    case "queuetrigger": {
      const queue = parseBinding(queueTriggerSchema, binding, where);
      const connection = queue.connection || "AzureWebJobsStorage";
      if (!settings[connection]) {
        throw new Error(
          `${where}: setting ${connection} (the queue connection) is not set; identity-based connections are not supported by the local host`,
        );
      }
      return {
        kind: "queue",
        queueName: resolveSettingExpressions(queue.queueName, settings, where).toLowerCase(),
        connection,
      };
    }
    default:
      throw new Error(`${where}: trigger ${binding.type} is not supported by the local host`);
  }
}

/** Reads one registration; throws, naming the function and binding, on anything not emulated. */
export function toFunctionEntry(
  registration: Registration,
  settings: Record<string, string | undefined>,
  config: HostConfig,
): FunctionEntry {
  const { name, bindings } = registration.metadata;
  let trigger: Trigger | undefined;
  let httpReturn = false;
  for (const [bindingName, binding] of Object.entries(bindings)) {
    const where = `function ${name}, binding ${bindingName}`;
    const type = binding.type.toLowerCase();
    if (type.endsWith("trigger")) {
      if (trigger !== undefined) throw new Error(`function ${name} has more than one trigger`);
      trigger = toTrigger(name, binding, settings, config, where);
    } else if (bindingName === "$return" && type === "http") {
      httpReturn = true;
    } else {
      // The app reads and writes storage itself: no input bindings, no output bindings but the response.
      throw new Error(
        `${where}: ${binding.direction ?? "in"} binding ${binding.type} is not supported by the local host`,
      );
    }
  }
  if (trigger === undefined) throw new Error(`function ${name} has no trigger binding`);
  if (trigger.kind === "http" && !httpReturn)
    throw new Error(`function ${name}: an HTTP trigger needs an http $return`);
  if (trigger.kind !== "http" && httpReturn) throw new Error(`function ${name}: an http $return needs an HTTP trigger`);
  return { name, handler: registration.handler, trigger };
}
