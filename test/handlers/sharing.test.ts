import { beforeAll, describe, expect, it } from "vitest";
import { call, handlerServices, problemOf, seed } from "./support.js";

const { caps, token } = handlerServices();
// Imported after the services are in place: registering reads no settings.
const { handler: share } = await import("../../functions/share.js");
const { handler: revoke } = await import("../../functions/revoke.js");

const sharePath = (resourceId = "p1", envId = "e") => ({
  path: `environments/${envId}/resources/${resourceId}/shares`,
  params: { envId, resourceId },
});

describe("share handler", () => {
  let maker: string;
  beforeAll(async () => {
    await seed(caps);
    maker = await token("maker");
  });

  const post = (body: unknown, extra: { token?: string; headers?: Record<string, string> } = {}) =>
    call(share, { method: "POST", ...sharePath(), token: maker, body, ...extra });

  it("grants, answering 201 with the grants as JSON, then 200 when nothing changes", async () => {
    const body = { role: "viewer", principals: [{ type: "user", id: "viewer" }], sendInvitation: false };
    const first = await post(body);
    expect(first.status, first.text).toBe(201);
    expect(first.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(first.json).toMatchObject({
      grants: [{ principalType: "user", principalId: "viewer", role: "viewer" }],
      invitations: [],
    });
    const again = await post(body);
    expect(again.status, again.text).toBe(200);
  });

  it("refuses a body that is not JSON, naming the body", async () => {
    const p = problemOf(await post('{"role": "viewer",'), 400);
    expect(p.detail).toBe("the body is not valid JSON");
    expect(p.errors).toEqual([{ field: "body", message: "not valid JSON" }]);
  });

  it("refuses a content type that is not JSON, naming the header", async () => {
    const p = problemOf(await post("role=viewer", { headers: { "content-type": "text/plain" } }), 400);
    expect(p.detail).toBe("the body must be JSON");
    expect(p.errors).toEqual([{ field: "header.content-type", message: "must be application/json, not text/plain" }]);
  });

  it("refuses a body without one, naming the body", async () => {
    const p = problemOf(await call(share, { method: "POST", ...sharePath(), token: maker }), 400);
    expect(p.detail).toBe("a JSON body is required");
    expect(p.errors).toEqual([{ field: "body", message: "missing" }]);
  });

  it("names each bad field of the body", async () => {
    const p = problemOf(await post({ role: "emperor", principals: [{ type: "user", id: "a|b" }] }), 400);
    expect(p.detail).toBe("the request's body is not valid");
    expect(p.errors?.map((e) => e.field)).toEqual(["body.role", "body.principals[0].id"]);
  });

  it("names a bad path parameter before touching storage", async () => {
    const bad = await call(share, {
      method: "POST",
      ...sharePath("p1", "no such env!"),
      token: maker,
      body: { role: "viewer", principals: [{ type: "user", id: "viewer" }] },
    });
    const p = problemOf(bad, 400);
    expect(p.detail).toBe("the request's params is not valid");
    expect(p.errors?.map((e) => e.field)).toEqual(["params.envId"]);
  });

  it("answers 401 with a challenge without a token", async () => {
    const a = await post({ role: "viewer", principals: [{ type: "user", id: "viewer" }] }, { token: "" });
    expect(problemOf(a, 401).detail).toBe("an Authorization: Bearer token is required");
    expect(a.headers.get("www-authenticate")).toBe('Bearer realm="sharing"');
  });

  it("maps the use case's refusals: 404 for an unknown resource, 403 saying why", async () => {
    const body = { role: "viewer", principals: [{ type: "user", id: "admin" }], sendInvitation: false };
    const unknown = await call(share, { method: "POST", ...sharePath("nope"), token: maker, body });
    expect(problemOf(unknown, 404).detail).toBe("resource nope was not found in environment e");
    const byViewer = await post(body, { token: await token("viewer") });
    expect(problemOf(byViewer, 403).detail).toMatch(/^processMining\.share is not allowed/);
  });
});

describe("revoke handler", () => {
  let maker: string;
  beforeAll(async () => {
    maker = await token("maker");
    const granted = await call(share, {
      method: "POST",
      ...sharePath(),
      token: maker,
      body: { role: "coOwner", principals: [{ type: "user", id: "admin" }], sendInvitation: false },
    });
    expect(granted.status, granted.text).toBe(201);
  });

  const del = (principalType: string, principalId: string, role: string) =>
    call(revoke, {
      method: "DELETE",
      path: `environments/e/resources/p1/shares/${principalType}/${principalId}/${role}`,
      params: { envId: "e", resourceId: "p1", principalType, principalId, role },
      token: maker,
    });

  it("revokes, answering 200 with what was revoked", async () => {
    const r = await del("user", "admin", "coOwner");
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(r.json).toEqual({ revoked: { principalType: "user", principalId: "admin", role: "coOwner" }, warnings: [] });
  });

  it("names bad path parameters", async () => {
    const p = problemOf(await del("robot", "admin", "overlord"), 400);
    expect(p.errors?.map((e) => e.field)).toEqual(["params.principalType", "params.role"]);
  });

  it("maps a conflict with the rules to 409 saying why", async () => {
    const p = problemOf(await del("user", "maker", "owner"), 409);
    expect(p.detail).toBe("the owner of a processMining resource changes only by reassignment");
  });
});
