import { beforeAll, describe, expect, it } from "vitest";
import { useServices } from "../../shared/main.js";
import { call, handlerServices, problemOf, seed } from "./support.js";

const { services, caps, token } = handlerServices();
// Imported after the services are in place: registering reads no settings.
const { handler: check } = await import("../../functions/check.js");
const { handler: getResource } = await import("../../functions/getResource.js");

beforeAll(async () => {
  await seed(caps);
});

describe("check handler", () => {
  const post = async (body: unknown, who = "maker") =>
    call(check, {
      method: "POST",
      path: "environments/e/check",
      params: { envId: "e" },
      token: await token(who),
      body,
    });

  it("answers each question in order, 200 as JSON", async () => {
    const r = await post({
      checks: [
        { principalId: "maker", resourceId: "p1", action: "processMining.delete" },
        { principalId: "viewer", resourceId: "p1", action: "processMining.viewAnalytics" },
      ],
    });
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(r.json).toEqual({
      results: [
        { allowed: true, reason: "allowed through owner (direct)" },
        { allowed: false, reason: "the principal holds no role on this processMining resource" },
      ],
    });
  });

  it("names an unknown action by its place in the body (the use case's 400, through the same map)", async () => {
    const p = problemOf(await post({ checks: [{ principalId: "maker", resourceId: "p1", action: "p.fly" }] }), 400);
    expect(p.detail).toBe("some checks name unknown actions");
    expect(p.errors).toEqual([{ field: "body.checks[0].action", message: "unknown action 'p.fly'" }]);
  });

  it("names a body over the limit of 100 checks", async () => {
    const checks = Array.from({ length: 101 }, () => ({ principalId: "maker", resourceId: "p1", action: "x.y" }));
    const p = problemOf(await post({ checks }), 400);
    expect(p.errors?.map((e) => e.field)).toEqual(["body.checks"]);
  });

  it("answers 404 to a caller outside the environment, as for an unknown one", async () => {
    const r = await post(
      { checks: [{ principalId: "maker", resourceId: "p1", action: "processMining.delete" }] },
      "outsider",
    );
    expect(problemOf(r, 404).detail).toBe("environment e was not found");
  });
});

describe("getResource handler", () => {
  const get = async (who: string, resourceId = "p1") =>
    call(getResource, {
      method: "GET",
      path: `environments/e/resources/${resourceId}`,
      params: { envId: "e", resourceId },
      token: await token(who),
    });

  it("answers 200 with the resource, the caller's actions and the ETag header", async () => {
    const r = await get("maker");
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(r.headers.get("etag")).toBeTruthy();
    expect(r.json).toMatchObject({
      resource: { envId: "e", resourceId: "p1", kind: "processMining", ownerId: "maker" },
      roles: ["owner"],
      via: [{ role: "owner", through: "direct" }],
    });
    expect((r.json as { allowedActions: string[] }).allowedActions).toContain("processMining.delete");
    expect(r.json).not.toHaveProperty("etag");
  });

  it("names a bad resource id in the path", async () => {
    const p = problemOf(await get("maker", "p1|x"), 400);
    expect(p.errors?.map((e) => e.field)).toEqual(["params.resourceId"]);
  });

  it("hides a resource from a member with no part in it, and the environment from an outsider: 404", async () => {
    expect(problemOf(await get("viewer"), 404).detail).toBe("resource p1 was not found in environment e");
    expect(problemOf(await get("outsider"), 404).detail).toBe("environment e was not found");
  });

  it("answers anything unexpected with a 500 that says nothing of it, and logs it", async () => {
    useServices({
      ...services,
      authenticate: () => Promise.reject(new Error("the token cache is on fire")),
    });
    try {
      const r = await get("maker");
      expect(problemOf(r, 500).detail).toBe("an unexpected error occurred; it has been logged");
      expect(r.text).not.toContain("fire");
      expect(r.logs.join("\n")).toMatch(/^error: unexpected error: Error: the token cache is on fire/);
    } finally {
      useServices(services);
    }
  });
});
