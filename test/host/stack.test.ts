import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../support/stack.js";

// The e2e harness itself: the compiled app as a child process against Azurite and the mail sink.
describe("end-to-end stack", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { STACK_PROBE: "first" } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("serves the compiled app once healthy", async () => {
    const health = await stack.api("GET", "/api/health");
    expect(health.status).toBe(200);
    expect(stack.settings.STACK_PROBE).toBe("first");
    expect(stack.settings.DEMO).toBe("0");
  });

  it("answers unknown routes with 404 problem+json", async () => {
    const r = await stack.api("GET", "/api/no-such-route-here");
    expect(r.status).toBe(404);
    expect(r.headers.get("content-type")).toBe("application/problem+json");
  });

  it("survives a crash: killHost makes it unreachable, restartHost brings it back with new settings", async () => {
    await stack.killHost();
    await expect(fetch(`${stack.baseUrl}/api/health`)).rejects.toThrow();
    await stack.restartHost({ STACK_PROBE: "second" });
    expect(stack.settings.STACK_PROBE).toBe("second");
    expect((await stack.api("GET", "/api/health")).status).toBe(200);
  });

  it("signs tokens with the host's development key", async () => {
    const token = await stack.token("someone", ["Sharing.Admin"]);
    expect(token.split(".")).toHaveLength(3);
  });
});
