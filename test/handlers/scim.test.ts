import { beforeAll, describe, expect, it } from "vitest";
import { call, handlerServices, seed, type Answer } from "./support.js";

const { caps, token } = handlerServices();
// Imported after the services are in place: registering reads no settings.
const { handler: createUser } = await import("../../functions/scimCreateUser.js");
const { handler: listUsers } = await import("../../functions/scimListUsers.js");
const { handler: patchUser } = await import("../../functions/scimPatchUser.js");
const { handler: deleteUser } = await import("../../functions/scimDeleteUser.js");
const { handler: createGroup } = await import("../../functions/scimCreateGroup.js");
const { handler: listGroups } = await import("../../functions/scimListGroups.js");
const { handler: getGroup } = await import("../../functions/scimGetGroup.js");
const { handler: patchGroup } = await import("../../functions/scimPatchGroup.js");
const { handler: deleteGroup } = await import("../../functions/scimDeleteGroup.js");

beforeAll(async () => {
  await seed(caps);
});

const base = "environments/e/scim/v2";
const scimHeaders = { "content-type": "application/scim+json" };
const as = async (roles = ["Sharing.Provisioning"]) => token("entra", roles);

function scim<T>(a: Answer, status: number): T {
  expect(a.status, a.text).toBe(status);
  expect(a.headers.get("content-type")).toMatch(/^application\/scim\+json/);
  return a.json as T;
}

describe("SCIM handlers on the in-memory store", () => {
  it("creates a user for an existing tenant user by email, finds, suspends and removes them", async () => {
    // `outsider` is in the tenant directory and not a member of `e`: POST makes them one, same id.
    const created = scim<{ id: string; active: boolean; userName: string }>(
      await call(createUser, {
        method: "POST",
        path: `${base}/Users`,
        params: { envId: "e" },
        headers: scimHeaders,
        token: await as(),
        body: { userName: "Outsider@Contoso.example", displayName: "Out Sider" },
      }),
      201,
    );
    expect(created).toMatchObject({ id: "outsider", active: true, userName: "Outsider@Contoso.example" });
    expect((await caps.repo.getMembership("e", "outsider"))?.securityRoles).toEqual(["BasicUser"]);

    const found = scim<{ totalResults: number }>(
      await call(listUsers, {
        method: "GET",
        path: `${base}/Users`,
        params: { envId: "e" },
        query: { filter: 'userName eq "outsider@contoso.example"' },
        token: await as(),
      }),
      200,
    );
    expect(found.totalResults).toBe(1);

    const off = await call(patchUser, {
      method: "PATCH",
      path: `${base}/Users/outsider`,
      params: { envId: "e", id: "outsider" },
      headers: scimHeaders,
      token: await as(),
      body: { Operations: [{ op: "Replace", path: "active", value: "False" }] },
    });
    expect(scim<{ active: boolean }>(off, 200).active).toBe(false);
    expect((await caps.repo.getMembership("e", "outsider"))?.suspended).toBe(true);

    const removed = await call(deleteUser, {
      method: "DELETE",
      path: `${base}/Users/outsider`,
      params: { envId: "e", id: "outsider" },
      token: await as(),
    });
    expect(removed.status).toBe(204);
    expect(await caps.repo.getMembership("e", "outsider")).toBeUndefined();
    expect((await caps.repo.environmentMembers("e")).map((m) => m.userId)).not.toContain("outsider");
    expect(await caps.repo.getUser("outsider")).toBeDefined();
  });

  it("creates a group with members, finds it by name, changes members by value, and deletes it", async () => {
    const group = scim<{ id: string; members: { value: string }[] }>(
      await call(createGroup, {
        method: "POST",
        path: `${base}/Groups`,
        params: { envId: "e" },
        headers: scimHeaders,
        token: await as(),
        body: { displayName: "Makers", externalId: "obj-1", members: [{ value: "maker" }] },
      }),
      201,
    );
    expect(group.members.map((m) => m.value)).toEqual(["maker"]);
    const byName = scim<{ Resources: { id: string; members?: unknown }[] }>(
      await call(listGroups, {
        method: "GET",
        path: `${base}/Groups`,
        params: { envId: "e" },
        query: { filter: 'displayName eq "makers"', excludedAttributes: "members" },
        token: await as(),
      }),
      200,
    );
    expect(byName.Resources.map((g) => g.id)).toEqual([group.id]);
    expect(byName.Resources[0]).not.toHaveProperty("members");

    const patched = await call(patchGroup, {
      method: "PATCH",
      path: `${base}/Groups/${group.id}`,
      params: { envId: "e", id: group.id },
      headers: scimHeaders,
      token: await as(),
      body: {
        Operations: [
          { op: "Add", path: "members", value: [{ value: "viewer" }] },
          { op: "Remove", path: 'members[value eq "maker"]' },
        ],
      },
    });
    expect(patched.status, patched.text).toBe(204);
    const read = async () =>
      scim<{ members: { value: string }[] }>(
        await call(getGroup, {
          method: "GET",
          path: `${base}/Groups/${group.id}`,
          params: { envId: "e", id: group.id },
          token: await as(),
        }),
        200,
      );
    expect((await read()).members.map((m) => m.value)).toEqual(["viewer"]);

    const gone = await call(deleteGroup, {
      method: "DELETE",
      path: `${base}/Groups/${group.id}`,
      params: { envId: "e", id: group.id },
      token: await as(),
    });
    expect(gone.status).toBe(204);
    expect(await caps.repo.getGroup("e", group.id)).toBeUndefined();
    expect(await caps.repo.groups.groupsOf("e", "viewer")).toEqual([]);
    expect(await caps.repo.idsBySearchText("e", "group", "Makers", 10)).toEqual([]);
  });

  it("refuses an admin app with 403 in SCIM's error body", async () => {
    const refused = await call(listUsers, {
      method: "GET",
      path: `${base}/Users`,
      params: { envId: "e" },
      token: await as(["Sharing.Admin"]),
    });
    expect(scim(refused, 403)).toMatchObject({
      schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"],
      status: "403",
    });
  });
});
