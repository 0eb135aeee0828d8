/**
 * The whole app for end-to-end tests: Azurite (in memory) and the mail sink run in the test
 * process, the app runs as a child process started by the host command, so the compiled app is
 * what is tested and a crash can be simulated with SIGKILL.
 *
 * The host command is `StackOptions.hostCommand`, else the environment variable
 * `E2E_HOST_COMMAND`, else `node dist-tools/tools/start.js` (the local host; needs `dist/` and
 * `dist-tools/` built, which `npm test` does first). The same suites can run against Core Tools
 * where they exist, e.g. `E2E_HOST_COMMAND='func start --port $PORT'`. The command:
 * - is split on spaces, without a shell; `$PORT` in an argument is replaced by the port, and a
 *   first word `node` means this Node;
 * - runs in the project root, with this process's environment plus the stack's settings: `PORT`
 *   (where to listen), `AzureWebJobsStorage` (Azurite), `ACS_CONNECTION_STRING` and `APP_BASE_URL`
 *   (the mail sink), `AUTH_DEV_SIGNING_KEY`, `INVITATION_SIGNING_KEY`, `EMAIL_SENDER`,
 *   `PUBLIC_BASE_URL`, the defaults of local.settings.example.json, `StackOptions.env`, and for the
 *   local host `LOCAL_SETTINGS_FILE=none`, `DEMO=0` and `LOCAL_QUEUE_LEASE_SECONDS`;
 * - must serve the app's routes under `http://127.0.0.1:$PORT/api/`, and answer `GET /api/health`
 *   with 200 once ready (the stack waits for that, up to a minute);
 * - should stop on SIGTERM (`stop`, `restartHost`); `killHost` sends SIGKILL;
 * - for `runFunction`, must answer `POST /admin/functions/{name}?wait=true` with 204 once the
 *   function finished. `?wait=true` is the local host's extension: Core Tools answer 202 at once,
 *   so suites that call `runFunction` need the local host.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { signDevToken } from "../../shared/adapters/http/devToken.js";
import { startAzurite } from "../../tools/azurite.js";
import { freePort } from "../../tools/freePort.js";
import { startMailSink, type MailSink } from "../../tools/mailSink.js";
import { findProjectRoot, randomKey } from "../../tools/settings.js";
import { assertMatchesDocument, checkerOf } from "./openapiCheck.js";

export interface StackOptions {
  /** Extra settings for the host process (they win over the stack's own). */
  env?: Record<string, string>;
  /** The command that starts the app (see the top of this file); default `E2E_HOST_COMMAND`, else the local host. */
  hostCommand?: string;
}

export interface ApiResult {
  status: number;
  headers: Headers;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  text: string;
}

export interface ApiOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** A string is sent as is; anything else as JSON (with `content-type: application/json`). */
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * Skips the check of the answer against the served OpenAPI document, which every call makes by
   * default (a mismatch throws `ResponseMismatch`): only for answers a test provokes outside the contract.
   */
  unchecked?: boolean;
}

export interface Stack {
  /** The command the app was started with. */
  hostCommand: string;
  /** The host's base URL, e.g. `http://127.0.0.1:40123` (routes are under `/api/`). */
  baseUrl: string;
  /** The Azurite connection string the host uses, for checking storage directly. */
  storageConnectionString: string;
  /** The mail sink the host sends email to. */
  sink: MailSink;
  /** The settings the host was last started with (keys included). */
  settings: Readonly<Record<string, string>>;
  /** A development token the host accepts. */
  token(sub: string, roles?: string[]): Promise<string>;
  /** Calls the API: `api("GET", "/api/health")`. */
  api(method: string, path: string, options?: ApiOptions): Promise<ApiResult>;
  /**
   * Runs a non-HTTP function (a timer, or a queue function with `input` as the message) through
   * the host's admin API and waits for it; rejects if it failed.
   */
  runFunction(name: string, input?: string): Promise<void>;
  /** Kills the host with SIGKILL (a crash: no in-flight work finishes) and waits for it to be gone. */
  killHost(): Promise<void>;
  /** Stops the host (gracefully, if still running) and starts it again; `extraEnv` applies to this start. */
  restartHost(extraEnv?: Record<string, string>): Promise<void>;
  /** Everything the host printed so far (stdout and stderr), for diagnosing a failure. */
  logs(): string;
  /** Stops the host, the mail sink and Azurite. */
  stop(): Promise<void>;
}

const root = findProjectRoot(fileURLToPath(new URL(".", import.meta.url)));
const startScript = join(root, "dist-tools", "tools", "start.js");
const defaultHostCommand = "node dist-tools/tools/start.js";
const healthTimeoutMs = 60_000;

/** The command's program and arguments, with `$PORT` filled in (see the top of this file). */
function hostArgv(command: string, port: number): [string, ...string[]] {
  const [program, ...args] = command.trim().split(/\s+/);
  if (program === undefined || program === "") throw new Error("the host command is empty");
  return [
    program === "node" ? process.execPath : program,
    ...args.map((arg) => arg.replaceAll("$PORT", String(port)).replaceAll("${PORT}", String(port))),
  ];
}

/** Host processes of this test process, killed if it exits without stop() (a crashed test file). */
const liveHosts = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of liveHosts) child.kill("SIGKILL");
});

const exampleSchema = z.object({ Values: z.record(z.string(), z.string()).optional() }).loose();

/** The documented defaults of local.settings.example.json, without its placeholders. */
function exampleDefaults(): Record<string, string> {
  const path = join(root, "local.settings.example.json");
  if (!existsSync(path)) return {};
  const values = exampleSchema.parse(JSON.parse(readFileSync(path, "utf8"))).Values ?? {};
  return Object.fromEntries(Object.entries(values).filter(([, value]) => !value.startsWith("(")));
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const hostCommand = options.hostCommand ?? (process.env.E2E_HOST_COMMAND || defaultHostCommand);
  if (hostCommand === defaultHostCommand && !existsSync(startScript))
    throw new Error(`${startScript} is missing: run \`npm run build && npm run build:tools\` first`);

  const azurite = await startAzurite();
  let sink: MailSink;
  try {
    sink = await startMailSink({ host: "127.0.0.1", port: 0 });
  } catch (error) {
    await azurite.stop();
    throw error;
  }
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const baseSettings: Record<string, string> = {
    ...exampleDefaults(),
    DEMO: "0",
    // Only the environment counts: a developer's local.settings.json must not leak into tests.
    LOCAL_SETTINGS_FILE: "none",
    PORT: String(port),
    AzureWebJobsStorage: azurite.connectionString,
    ACS_CONNECTION_STRING: sink.connectionString,
    AUTH_DEV_SIGNING_KEY: randomKey(),
    INVITATION_SIGNING_KEY: randomKey(),
    EMAIL_SENDER: "DoNotReply@sharing.test",
    PUBLIC_BASE_URL: baseUrl,
    APP_BASE_URL: `${sink.url}/app`,
    // Messages a killed host was working on come back after this, not the Functions 10 minutes.
    LOCAL_QUEUE_LEASE_SECONDS: "10",
    // The tests' webhook receivers listen on loopback, over http.
    WEBHOOK_ALLOW_LOOPBACK_HTTP: "true",
    ...options.env,
  };

  let settings = baseSettings;
  let child: ChildProcess | undefined;
  let output: string[] = [];
  let spawnError: Error | undefined;
  const echo = process.env.STACK_LOGS === "1";

  async function startHostProcess(extraEnv: Record<string, string> = {}): Promise<void> {
    settings = { ...baseSettings, ...extraEnv };
    const env: NodeJS.ProcessEnv = { ...process.env, ...settings };
    const [program, ...args] = hostArgv(hostCommand, port);
    const started = spawn(program, args, {
      cwd: root,
      env,
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    child = started;
    // A command that cannot be run (not installed, say) fails the start instead of the test process.
    spawnError = undefined;
    started.once("error", (error) => (spawnError = error));
    liveHosts.add(started);
    started.once("exit", () => liveHosts.delete(started));
    // The local host exits when this IPC channel closes (start.ts), i.e. when this process dies.
    started.channel?.unref();
    output = [];
    for (const stream of [started.stdout, started.stderr]) {
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => {
        output.push(chunk);
        if (echo) process.stderr.write(chunk);
      });
    }
    await waitForHealth(started);
  }

  async function waitForHealth(started: ChildProcess): Promise<void> {
    const deadline = Date.now() + healthTimeoutMs;
    while (Date.now() < deadline) {
      if (spawnError !== undefined)
        throw new Error(`the host command ${hostCommand} could not run: ${spawnError.message}`);
      if (started.exitCode !== null || started.signalCode !== null) {
        throw new Error(
          `the host exited during start (code ${started.exitCode}, signal ${started.signalCode}):\n${tail()}`,
        );
      }
      try {
        const response = await fetch(`${baseUrl}/api/health`);
        await response.arrayBuffer();
        if (response.status === 200) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the host did not answer GET /api/health with 200 within ${healthTimeoutMs} ms:\n${tail()}`);
  }

  const tail = (): string => output.join("").slice(-4000);

  function exited(target: ChildProcess): Promise<void> {
    // No pid: the command never ran (spawn failed), so there is nothing to wait for.
    if (target.pid === undefined || target.exitCode !== null || target.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => target.once("exit", () => resolve()));
  }

  async function stopHostProcess(signal: NodeJS.Signals): Promise<void> {
    const target = child;
    if (target === undefined) return;
    child = undefined;
    const gone = exited(target);
    target.kill(signal);
    const force = setTimeout(() => target.kill("SIGKILL"), 15_000);
    await gone;
    clearTimeout(force);
  }

  try {
    await startHostProcess();
  } catch (error) {
    await stopHostProcess("SIGKILL");
    await Promise.all([sink.close(), azurite.stop()]);
    throw error;
  }

  let stopping: Promise<void> | undefined;
  // The served document, read once per stack (the app's code does not change when the host restarts).
  let documentText: Promise<string> | undefined;
  const servedDocument = () => {
    documentText ??= fetch(`${baseUrl}/api/openapi.json`).then(async (r) => {
      if (r.status !== 200) throw new Error(`GET /api/openapi.json answered ${r.status}`);
      return r.text();
    });
    documentText.catch(() => (documentText = undefined));
    return documentText;
  };
  const stack: Stack = {
    hostCommand,
    baseUrl,
    storageConnectionString: azurite.connectionString,
    sink,
    get settings() {
      return settings;
    },
    token(sub, roles) {
      const key = settings.AUTH_DEV_SIGNING_KEY;
      if (key === undefined) throw new Error("the stack runs without AUTH_DEV_SIGNING_KEY");
      return signDevToken(key, { sub, ...(roles ? { roles } : {}) });
    },
    async api(method, path, apiOptions = {}) {
      const headers: Record<string, string> = { ...apiOptions.headers };
      if (apiOptions.token !== undefined) headers.authorization = `Bearer ${apiOptions.token}`;
      let body: string | undefined;
      if (apiOptions.body !== undefined) {
        if (typeof apiOptions.body === "string") {
          body = apiOptions.body;
        } else {
          body = JSON.stringify(apiOptions.body);
          headers["content-type"] ??= "application/json";
        }
      }
      const response = await fetch(`${baseUrl}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
      const text = await response.text();
      let json: unknown;
      try {
        json = text === "" ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
      if (apiOptions.unchecked !== true && path.startsWith("/api/")) {
        const checker = checkerOf(await servedDocument());
        assertMatchesDocument(checker, method, path, response.status, response.headers.get("content-type"), text, (n) =>
          response.headers.get(n),
        );
      }
      return { status: response.status, headers: response.headers, json, text };
    },
    async runFunction(name, input) {
      const response = await fetch(`${baseUrl}/admin/functions/${encodeURIComponent(name)}?wait=true`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(input === undefined ? {} : { input }),
      });
      if (response.status !== 204)
        throw new Error(`running ${name} failed with ${response.status}: ${await response.text()}\n${tail()}`);
    },
    killHost: () => stopHostProcess("SIGKILL"),
    async restartHost(extraEnv) {
      await stopHostProcess("SIGTERM");
      await startHostProcess(extraEnv);
    },
    logs: () => output.join(""),
    stop() {
      stopping ??= (async () => {
        await stopHostProcess("SIGTERM");
        await Promise.all([sink.close(), azurite.stop()]);
      })();
      return stopping;
    },
  };
  return stack;
}
