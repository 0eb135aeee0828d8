import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { z } from "zod";
import { freePort } from "./freePort.js";

/** Azurite's well-known development account (public, documented by Microsoft; not a secret). */
export const devAccountName = "devstoreaccount1";
export const devAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/** A running in-memory Azurite (Table and Queue services only). */
export interface Azurite {
  /** `AzureWebJobsStorage`-style connection string with TableEndpoint and QueueEndpoint. */
  connectionString: string;
  tablePort: number;
  queuePort: number;
  /** Stops both services; idempotent. */
  stop(): Promise<void>;
}

export interface AzuriteOptions {
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** Echo Azurite's own output (prefixed) to this process's stderr. */
  verbose?: boolean;
}

/** The flags every launch uses (see platform-facts: current SDKs need `--skipApiVersionCheck`). */
const commonFlags = ["--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--loose"];

const startTimeoutMs = 30_000;

/** Builds the connection string the storage SDKs and the Functions host understand. */
export function azuriteConnectionString(host: string, tablePort: number, queuePort: number): string {
  return (
    [
      "DefaultEndpointsProtocol=http",
      `AccountName=${devAccountName}`,
      `AccountKey=${devAccountKey}`,
      // Path-style: Azurite serves the account as the first path segment.
      `TableEndpoint=http://${host}:${tablePort}/${devAccountName}`,
      `QueueEndpoint=http://${host}:${queuePort}/${devAccountName}`,
    ].join(";") + ";"
  );
}

/**
 * Starts `azurite-table` and `azurite-queue` in memory on free ports. Only these two are started:
 * the combined `azurite` binary would also start blob, which nothing here uses.
 */
export async function startAzurite(options: AzuriteOptions = {}): Promise<Azurite> {
  const host = options.host ?? "127.0.0.1";
  const verbose = options.verbose ?? false;
  const [queueResult, tableResult] = await Promise.allSettled([launchQueue(host, verbose), launchTable(host, verbose)]);
  if (queueResult.status === "rejected" || tableResult.status === "rejected") {
    await Promise.all([queueResult, tableResult].map((r) => (r.status === "fulfilled" ? r.value.stop() : undefined)));
    throw queueResult.status === "rejected"
      ? queueResult.reason
      : tableResult.status === "rejected"
        ? tableResult.reason
        : undefined;
  }
  const queue = queueResult.value;
  const table = tableResult.value;
  let stopping: Promise<void> | undefined;
  return {
    connectionString: azuriteConnectionString(host, table.port, queue.port),
    tablePort: table.port,
    queuePort: queue.port,
    stop() {
      stopping ??= Promise.all([table.stop(), queue.stop()]).then(() => undefined);
      return stopping;
    },
  };
}

interface Launched {
  port: number;
  stop(): Promise<void>;
}

async function launchQueue(host: string, verbose: boolean): Promise<Launched> {
  // The queue service reports the port it really got: "successfully listens on http://HOST:PORT".
  return launch(
    "azurite-queue",
    ["--queueHost", host, "--queuePort", "0"],
    /successfully listens on https?:\/\/[^\s]*:(\d+)/,
    verbose,
  );
}

async function launchTable(host: string, verbose: boolean): Promise<Launched> {
  // azurite-table 3.35 logs the port it was given ("started on 127.0.0.1:0"), not the one it got,
  // so pick a free port here and pass it; retry if someone else grabbed it in between.
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort(host);
    try {
      const launched = await launch(
        "azurite-table",
        ["--tableHost", host, "--tablePort", String(port)],
        /successfully started on [^\s]*:(\d+)/,
        verbose,
      );
      return { port, stop: launched.stop };
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error("azurite-table did not start after 5 attempts", { cause: lastError });
}

const binsSchema = z.object({ bin: z.record(z.string(), z.string()) });

/** Resolves a bin of the installed azurite package through its package.json (no PATH, no shell). */
export function azuriteBin(name: "azurite-table" | "azurite-queue"): string {
  const require = createRequire(import.meta.url);
  const packageJsonPath = require.resolve("azurite/package.json");
  const { bin } = binsSchema.parse(JSON.parse(readFileSync(packageJsonPath, "utf8")));
  const relative = bin[name];
  if (relative === undefined) throw new Error(`azurite has no bin named ${name}`);
  return join(dirname(packageJsonPath), relative);
}

/** Every Azurite child of this process, killed synchronously if the process exits without stop(). */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once("exit", () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const c of liveChildren) c.kill("SIGKILL");
    });
  }
}

function launch(
  binName: "azurite-table" | "azurite-queue",
  args: string[],
  readyLine: RegExp,
  verbose: boolean,
): Promise<Launched> {
  const bin = azuriteBin(binName);
  // Run the bin through a tiny bootstrap with an IPC channel: Azurite already shuts down on the
  // "shutdown" IPC message, and the bootstrap exits when the channel closes, i.e. when this process
  // dies even by SIGKILL, so no Azurite outlives its parent.
  const bootstrap = [
    'process.on("disconnect", () => process.exit(0));',
    `process.argv.splice(1, 0, ${JSON.stringify(bin)});`,
    `require(${JSON.stringify(bin)});`,
  ].join("\n");
  const child = spawn(process.execPath, ["-e", bootstrap, "--", ...args, ...commonFlags], {
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    windowsHide: true,
  });
  trackChild(child);
  // The IPC channel must not keep the parent's event loop alive on its own.
  child.unref();
  child.channel?.unref();

  return new Promise<Launched>((resolve, reject) => {
    let output = "";
    let settled = false;
    const timer = setTimeout(
      () => fail(new Error(`${binName} did not report ready within ${startTimeoutMs} ms`)),
      startTimeoutMs,
    );
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${error.message}\n${output.slice(-2000)}`));
    };
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString("utf8");
      if (verbose) process.stderr.write(text.replace(/^/gm, `[${binName}] `));
      if (settled) return;
      output += text;
      const match = readyLine.exec(output);
      if (match?.[1] !== undefined) {
        settled = true;
        clearTimeout(timer);
        // Keep draining the pipes so Azurite never blocks on a full pipe, but stop holding the loop.
        for (const stream of [child.stdout, child.stderr]) {
          if (stream && "unref" in stream && typeof stream.unref === "function") stream.unref();
        }
        resolve({ port: Number(match[1]), stop: () => stopChild(child) });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("error", (error) => fail(error));
    child.once("exit", (code, signal) => fail(new Error(`${binName} exited early (code ${code}, signal ${signal})`)));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    // Hold the event loop until the child is really gone, so `await stop()` means stopped.
    child.ref();
    // In memory there is nothing to flush. Closing the IPC channel makes the bootstrap exit at
    // once (Azurite itself ignores SIGTERM); the signals are the fallback.
    if (child.connected) child.disconnect();
    else child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 3000).unref();
  });
}
