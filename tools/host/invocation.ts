/**
 * Running one invocation: an `InvocationContext` as the worker builds it, the handler awaited, and
 * a failure logged with its stack (the HTTP caller only ever sees a generic 500).
 */
import { randomUUID } from "node:crypto";
import { format } from "node:util";
import functionsLibrary, { type LogLevel } from "@azure/functions";
import type { FunctionEntry } from "./bindings.js";

// The classes come from the CommonJS default export (see wire.ts).
const { InvocationContext } = functionsLibrary;

export interface InvokeOptions {
  /** Default: a new UUID. */
  invocationId?: string;
  triggerMetadata?: Record<string, unknown>;
  /** Says what failed in the log line, e.g. the queue message and its dequeue count. */
  subject?: string;
}

/** Runs `fn` with `input`; resolves with its result, rejects (after logging) with what it threw. */
export type Invoke = (fn: FunctionEntry, input: unknown, options?: InvokeOptions) => Promise<unknown>;

export function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : format(error);
}

/** Invocations whose `context.log/warn/error` lines go to `logLine`, prefixed with the function's name. */
export function createInvoker(logLine: (line: string) => void): Invoke {
  return async (fn, input, options = {}) => {
    const { invocationId = randomUUID(), triggerMetadata, subject } = options;
    const context = new InvocationContext({
      invocationId,
      functionName: fn.name,
      // Trace and debug sit below the Functions default level (Information).
      logHandler: (level: LogLevel, ...args: unknown[]) => {
        if (level === "trace" || level === "debug") return;
        const prefix = level === "warning" ? "WARN: " : level === "error" || level === "critical" ? "ERROR: " : "";
        logLine(`[${fn.name}] ${prefix}${format(...args)}`);
      },
      ...(triggerMetadata ? { triggerMetadata } : {}),
    });
    try {
      return await fn.handler(input, context);
    } catch (error) {
      logLine(`[${fn.name}] ERROR: ${subject ?? `invocation ${invocationId}`} failed: ${describeError(error)}`);
      throw error ?? new Error("the function threw without an error");
    }
  };
}
