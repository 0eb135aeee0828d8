/**
 * `npm start`: the app on this machine. Loads settings like `func start`, checks them as the app
 * will, starts what is not given (Azurite for storage, the mail sink for email), runs the local
 * Functions host on PORT (7071), seeds demo data and prints how to call it. Also the child process
 * of the end-to-end test stack (DEMO=0).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { signDevToken } from "../shared/adapters/http/devToken.js";
import { parseSettings } from "../shared/config.js";
import { azuriteConnectionString, startAzurite, type Azurite } from "./azurite.js";
import { seedDemo } from "./demo.js";
import { freePort, isPortFree } from "./freePort.js";
import { startHost, type LocalHost } from "./host/index.js";
import { startMailSink, type MailSink } from "./mailSink.js";
import { findProjectRoot, loadLocalSettings } from "./settings.js";

const here = dirname(fileURLToPath(import.meta.url));
const healthTimeoutMs = 30_000;

/** A start failure whose message says everything: printed without a stack trace. */
class StartProblem extends Error {
  override name = "StartProblem";
}

/** Thrown by `parseSettings` (shared/config.ts), at this check or when the app's modules load. */
function isSettingsError(error: unknown): boolean {
  return error instanceof Error && error.name === "SettingsError";
}

/** What runs, so a signal (or a failed start) can stop exactly that. */
const running: { host?: LocalHost; sink?: MailSink; azurite?: Azurite } = {};

async function main(): Promise<void> {
  const root = findProjectRoot(here);
  // LOCAL_SETTINGS_FILE=none reads only the environment (the test stack), a path reads that file.
  const fileSetting = process.env.LOCAL_SETTINGS_FILE;
  loadLocalSettings(root, fileSetting === undefined ? {} : { file: fileSetting === "none" ? null : fileSetting });
  const env = process.env;
  const given = (name: string): boolean => (env[name] ?? "") !== "";

  const requestedPort = Number(env.PORT ?? "7071");
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535)
    throw new StartProblem(`PORT must be a port number, got ${env.PORT}`);
  // Port 0 is resolved now: PUBLIC_BASE_URL must be known before the function modules load.
  const port = requestedPort === 0 ? await freePort() : requestedPort;

  // Check the settings as the app will parse them, before starting anything slow: what this script
  // fills in below is stood in for by placeholders of the same form, so a bad setting the user gave
  // fails here, in well under a second, and not as 500s from the running app.
  const placeholders: Record<string, string> = {
    AzureWebJobsStorage: azuriteConnectionString("127.0.0.1", 10002, 10001),
    ACS_CONNECTION_STRING: `endpoint=http://127.0.0.1:7072/;accesskey=${Buffer.from("placeholder").toString("base64")}`,
    APP_BASE_URL: "http://127.0.0.1:7072/app",
    PUBLIC_BASE_URL: `http://localhost:${port}`,
  };
  parseSettings({ ...env, ...Object.fromEntries(Object.entries(placeholders).filter(([name]) => !given(name))) });

  if (!given("AzureWebJobsStorage")) {
    running.azurite = await startAzurite();
    env.AzureWebJobsStorage = running.azurite.connectionString;
  }
  if (!given("ACS_CONNECTION_STRING")) {
    const preferred = (await isPortFree(7072)) ? 7072 : 0;
    running.sink = await startMailSink({ host: "127.0.0.1", port: preferred }).catch(() =>
      startMailSink({ host: "127.0.0.1", port: 0 }),
    );
    env.ACS_CONNECTION_STRING = running.sink.connectionString;
    if (!given("APP_BASE_URL")) env.APP_BASE_URL = `${running.sink.url}/app`;
  }
  if (!given("PUBLIC_BASE_URL")) env.PUBLIC_BASE_URL = `http://localhost:${port}`;
  // A local run calls webhook receivers on this machine (contract v2, "More settings"); say false to try the guard as in Azure.
  if (!given("WEBHOOK_ALLOW_LOOPBACK_HTTP")) env.WEBHOOK_ALLOW_LOOPBACK_HTTP = "true";

  // The app as built for Azure (npm run build), not a copy compiled with the tools.
  const functionsDir = join(root, "dist", "functions");
  const functionFiles = readdirSync(functionsDir)
    .filter((f) => f.endsWith(".js"))
    .sort()
    .map((f) => join(functionsDir, f));
  const hostJson: unknown = JSON.parse(readFileSync(join(root, "host.json"), "utf8"));
  // Local knob: how soon a crashed host's in-flight queue messages come back (see startHost).
  const lease = Number(env.LOCAL_QUEUE_LEASE_SECONDS ?? "");
  running.host = await startHost({
    functionFiles,
    port,
    hostJson,
    ...(Number.isInteger(lease) && lease > 0 ? { queueLeaseSeconds: lease } : {}),
  });
  const baseUrl = `http://localhost:${running.host.port}`;
  await waitForHealth(running.host.url);

  const key = env.AUTH_DEV_SIGNING_KEY;
  const token = (sub: string, roles?: string[]): Promise<string> => {
    if (!key) throw new Error("AUTH_DEV_SIGNING_KEY is not set: no development tokens");
    return signDevToken(key, { sub, ...(roles ? { roles } : {}) });
  };

  const lines = [
    "",
    "Sharing governance API on the local Functions host",
    `  API           ${baseUrl}/api   (${describeFunctions(running.host)})`,
    `  Storage       ${running.azurite ? `Azurite in memory (tables :${running.azurite.tablePort}, queues :${running.azurite.queuePort})` : "AzureWebJobsStorage as given"}`,
    `  Mail sink     ${running.sink ? running.sink.url : "ACS_CONNECTION_STRING as given"}`,
  ];
  if (env.DEMO !== "0") {
    const demo = await seedDemo({ baseUrl: running.host.url, token });
    lines.push(
      `  Demo          environment "${demo.envId}": ${demo.resources.map((r) => `${r.displayName} (${r.kind} ${r.id})`).join(", ")}`,
    );
    if (key) {
      lines.push(
        "  Development tokens (send as 'Authorization: Bearer <token>'; `npm run token -- --sub ID` makes more):",
      );
      for (const person of demo.people)
        lines.push(`    ${person.label} (${person.id})`, `      ${await token(person.id)}`);
    }
  }
  if (key)
    lines.push(
      "  Admin app token (roles: Sharing.Admin):",
      `      ${await token("local-admin-app", ["Sharing.Admin"])}`,
    );
  lines.push(
    `  Timers/queues run on their own; run one now with: curl -X POST ${baseUrl}/admin/functions/<name>`,
    "Press Ctrl+C to stop.",
    "",
  );
  console.log(lines.join("\n"));
}

function describeFunctions(host: LocalHost): string {
  const count = (type: string): number => host.registrations.filter((r) => r.triggerType.toLowerCase() === type).length;
  return `${host.registrations.length} functions: ${count("httptrigger")} HTTP, ${count("timertrigger")} timer, ${count("queuetrigger")} queue`;
}

/** Polls the health function until it answers 200: the app is ready, not just listening. */
async function waitForHealth(url: string): Promise<void> {
  const deadline = Date.now() + healthTimeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/api/health`);
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`GET /api/health did not answer 200 within ${healthTimeoutMs} ms (last: ${last})`);
}

let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= (async () => {
    // Host first, so in-flight invocations can still reach storage and the sink.
    await running.host?.close().catch((e: unknown) => console.error("stopping the host failed:", e));
    await Promise.all([running.sink?.close(), running.azurite?.stop()]).catch((e: unknown) =>
      console.error("stopping failed:", e),
    );
  })();
  return stopping;
}

function onSignal(signal: NodeJS.Signals): void {
  if (stopping) {
    // A second Ctrl+C: the user does not want to wait.
    process.exit(130);
  }
  console.log(`\n${signal}: stopping…`);
  void stop().then(() => process.exit(0));
}
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);
// Started by the test stack with an IPC channel: when that parent goes away, so do we.
if (process.connected) {
  process.on("disconnect", () => void stop().then(() => process.exit(0)));
  process.channel?.unref();
}

main().catch(async (error: unknown) => {
  // A bad setting (found by the check above, or by the app as its modules load) or a bad PORT: the
  // message names each problem and a stack trace would only bury it. Anything else keeps its stack.
  const expected = isSettingsError(error) || error instanceof StartProblem;
  const detail = error instanceof Error ? (expected ? error.message : (error.stack ?? error.message)) : String(error);
  console.error(`npm start: ${detail}`);
  await stop();
  process.exit(1);
});
