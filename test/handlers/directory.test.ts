import { beforeAll, describe, expect, it } from "vitest";
import { call, handlerServices, problemOf, seed } from "./support.js";

const { caps, token } = handlerServices();
// Imported after the services are in place: registering reads no settings.
const { handler: putMembership } = await import("../../functions/putMembership.js");

beforeAll(async () => {
  await seed(caps);
});

describe("putMembership handler", () => {
  const put = async (userId: string, body: unknown, who = "admin") =>
    call(putMembership, {
      method: "PUT",
      path: `environments/e/users/${userId}`,
      params: { envId: "e", userId },
      token: await token(who),
      body,
    });

  it("adds a member (201), then updates them (200), answering the membership as JSON", async () => {
    const added = await put("outsider", { securityRoles: ["BasicUser"] });
    expect(added.status, added.text).toBe(201);
    expect(added.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(added.json).toEqual({ envId: "e", userId: "outsider", securityRoles: ["BasicUser"], addedBy: "admin" });
    const updated = await put("outsider", { securityRoles: ["EnvironmentMaker", "EnvironmentMaker"] });
    expect(updated.status, updated.text).toBe(200);
    expect(updated.json).toMatchObject({ securityRoles: ["EnvironmentMaker"] });
  });

  it("names a field the body doesn't take, and a role id that is no id", async () => {
    const p = problemOf(await put("maker", { securityRoles: ["Emp|eror"], extra: 1 }), 400);
    expect(p.detail).toBe("the request's body is not valid");
    expect(p.errors?.map((e) => e.field).sort()).toEqual(["body", "body.securityRoles[0]"]);
    expect(p.errors?.find((e) => e.field === "body")?.message).toMatch(/extra/);
  });

  it("names a security role the environment doesn't define (custom roles may be named beside the built-in ones)", async () => {
    const p = problemOf(await put("maker", { securityRoles: ["BasicUser", "Emperor"] }), 400);
    expect(p.errors).toEqual([
      { field: "body.securityRoles[1]", message: "environment e has no security role Emperor" },
    ]);
  });

  it("answers 404 for a user the tenant directory doesn't know", async () => {
    const p = problemOf(await put("ghost", { securityRoles: ["BasicUser"] }), 404);
    expect(p.detail).toBe("user ghost is not in the tenant directory");
  });

  it("refuses a disabled SystemAdministrator and a maker with 403 saying what it needs", async () => {
    for (const who of ["disabledAdmin", "maker"]) {
      const p = problemOf(await put("viewer", { securityRoles: ["EnvironmentMaker"] }, who), 403);
      expect(p.detail, who).toBe(
        "managing an environment's members and groups needs its SystemAdministrator role (as an enabled user) or the Sharing.Admin or Sharing.Provisioning app role",
      );
    }
    expect(await caps.repo.getMembership("e", "viewer")).toMatchObject({ securityRoles: ["BasicUser"] });
  });
});
