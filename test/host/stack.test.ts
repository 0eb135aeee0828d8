import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { signDevToken } from "../../shared/adapters/http/devToken.js";
import { findProjectRoot, randomKey } from "../../tools/settings.js";
import { startStack, type Stack } from "../support/stack.js";

const root = findProjectRoot(fileURLToPath(new URL(".", import.meta.url)));

// The e2e harness itself: the compiled app as a child process against Azurite and the mail sink.
describe("end-to-end stack", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { STACK_PROBE: "first" } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("serves the compiled app once healthy, with the settings it was given", async () => {
    expect(stack.hostCommand).toBe(process.env.E2E_HOST_COMMAND || "node dist-tools/tools/start.js");
    const health = await stack.api("GET", "/api/health");
    expect(health.status).toBe(200);
    // 200 means the app reached the stack's Azurite.
    expect(health.json).toEqual({ status: "ok" });
    expect(stack.settings.STACK_PROBE).toBe("first");
    expect(stack.settings.DEMO).toBe("0");
    expect(stack.settings.AzureWebJobsStorage).toBe(stack.storageConnectionString);
    expect(stack.settings.ACS_CONNECTION_STRING).toBe(stack.sink.connectionString);
  });

  it("answers unknown routes with 404 problem+json", async () => {
    const r = await stack.api("GET", "/api/no-such-route-here");
    expect(r.status).toBe(404);
    expect(r.headers.get("content-type")).toBe("application/problem+json");
  });

  it("signs tokens the running app accepts, and the app refuses one signed with another key", async () => {
    const accepted = await stack.api("GET", "/api/actions", { token: await stack.token("someone") });
    expect(accepted.status).toBe(200);
    const forged = await signDevToken(randomKey(), { sub: "someone", roles: ["Sharing.Admin"] });
    expect((await stack.api("GET", "/api/actions", { token: forged })).status).toBe(401);
    expect((await stack.api("GET", "/api/actions")).status).toBe(401);
  });

  it("runs a timer function through runFunction and waits for it", async () => {
    await stack.runFunction("outboxSweeper");
    await expect(stack.runFunction("noSuchFunction")).rejects.toThrow(/404/);
  });

  it("survives a crash: killHost makes it unreachable, restartHost brings it back with new settings", async () => {
    await stack.killHost();
    await expect(fetch(`${stack.baseUrl}/api/health`)).rejects.toThrow();
    await stack.restartHost({ STACK_PROBE: "second" });
    expect(stack.settings.STACK_PROBE).toBe("second");
    expect((await stack.api("GET", "/api/health")).status).toBe(200);
  });
});

describe("end-to-end stack with another host command", () => {
  const fakeHost = "node test/host/fixtures/fakeHost.mjs $PORT";
  let stack: Stack | undefined;
  const previous = process.env.E2E_HOST_COMMAND;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
    if (previous === undefined) delete process.env.E2E_HOST_COMMAND;
    else process.env.E2E_HOST_COMMAND = previous;
  });

  const expectStartedByFakeHost = async (started: Stack): Promise<void> => {
    const port = new URL(started.baseUrl).port;
    // The fake host is not the app: it serves no OpenAPI document to check its answer against.
    const health = await started.api("GET", "/api/health", { unchecked: true });
    expect(health.status).toBe(200);
    expect(health.json).toEqual({
      argvPort: port,
      envPort: port,
      cwd: root,
      settings: ["AzureWebJobsStorage", "ACS_CONNECTION_STRING", "AUTH_DEV_SIGNING_KEY", "PUBLIC_BASE_URL"],
    });
  };

  it("starts the app with the hostCommand option, $PORT filled in, in the project root", async () => {
    stack = await startStack({ hostCommand: fakeHost });
    expect(stack.hostCommand).toBe(fakeHost);
    await expectStartedByFakeHost(stack);
  });

  it("takes the command from E2E_HOST_COMMAND when the option is not given", async () => {
    process.env.E2E_HOST_COMMAND = fakeHost;
    stack = await startStack();
    await expectStartedByFakeHost(stack);
  });

  it("fails the start, naming the command, when the command cannot run", async () => {
    await expect(startStack({ hostCommand: "no-such-host-command-here start" })).rejects.toThrow(
      /no-such-host-command-here start could not run/,
    );
  });
});
