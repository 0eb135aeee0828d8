import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiResult, Stack } from "../support/stack.js";
import { startStack } from "../support/stack.js";
import { finishedAudit, newWorld, uid, type World } from "../support/world.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

const urn = {
  user: "urn:ietf:params:scim:schemas:core:2.0:User",
  group: "urn:ietf:params:scim:schemas:core:2.0:Group",
  enterprise: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
  list: "urn:ietf:params:scim:api:messages:2.0:ListResponse",
  patch: "urn:ietf:params:scim:api:messages:2.0:PatchOp",
  error: "urn:ietf:params:scim:api:messages:2.0:Error",
};

interface ScimUser {
  id: string;
  userName: string;
  externalId?: string;
  displayName: string;
  active: boolean;
  emails: { value: string; type?: string; primary?: boolean }[];
  name?: { givenName?: string; familyName?: string; formatted?: string };
  userType: string;
  meta: { resourceType: string; location: string };
}
interface ScimGroup {
  id: string;
  displayName: string;
  externalId?: string;
  members?: { value: string }[];
}
interface List<T> {
  schemas: string[];
  totalResults: number;
  startIndex: number;
  itemsPerPage: number;
  Resources: T[];
}

/** Every answer from the SCIM base is application/scim+json (RFC 7644 §3.1), errors included. */
function scim<T>(r: ApiResult, status: number): T {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get("content-type")).toMatch(/^application\/scim\+json/);
  return r.json as T;
}

/** A SCIM error body: the Error schema, `status` as a string, and `scimType` where one applies. */
function scimError(r: ApiResult, status: number, scimType?: string): { detail: string } {
  const body = scim<{ schemas: string[]; status: string; scimType?: string; detail: string }>(r, status);
  expect(body.schemas).toEqual([urn.error]);
  expect(body.status).toBe(String(status));
  expect(typeof body.detail).toBe("string");
  if (scimType) expect(body.scimType).toBe(scimType);
  return body;
}

/** Calls the environment's SCIM base as Entra's provisioning service does: bearer token, `application/scim+json` bodies. */
function client(w: World, token: string) {
  const base = `/api/environments/${w.envId}/scim/v2`;
  return {
    base,
    call: (method: string, path: string, body?: unknown, as = token) =>
      stack.api(method, `${base}${path}`, {
        token: as,
        headers: { "content-type": "application/scim+json", accept: "application/scim+json" },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      }),
  };
}

const q = (filter: string) => `filter=${encodeURIComponent(filter)}`;
const patchOp = (...Operations: unknown[]) => ({ schemas: [urn.patch], Operations });

async function allowed(
  w: World,
  principalId: string,
  resourceId: string,
): Promise<{ allowed: boolean; reason: string }> {
  const r = await stack.api("POST", `/api/environments/${w.envId}/check`, {
    token: w.adminToken,
    body: { checks: [{ principalId, resourceId, action: "processMining.viewAnalytics" }] },
  });
  expect(r.status, r.text).toBe(200);
  return (r.json as { results: { allowed: boolean; reason: string }[] }).results[0]!;
}

describe("SCIM 2.0 provisioning, as Microsoft Entra's provisioning service drives it", () => {
  it("plays a provisioning cycle: users created, found, updated, soft-deleted and restored; groups and members; deletes", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    const pm = await w.resource("maker", { kind: "processMining", analyticsReady: true });
    const entra = client(w, await stack.token(uid("entra"), ["Sharing.Provisioning"]));

    // Discovery.
    const config = scim<{
      patch: { supported: boolean };
      bulk: { supported: boolean };
      filter: { supported: boolean };
    }>(await entra.call("GET", "/ServiceProviderConfig"), 200);
    expect(config).toMatchObject({
      patch: { supported: true },
      bulk: { supported: false },
      filter: { supported: true },
    });
    const types = scim<List<{ id: string; endpoint: string }>>(await entra.call("GET", "/ResourceTypes"), 200);
    expect(types.Resources.map((t) => `${t.id} ${t.endpoint}`)).toEqual(["User /Users", "Group /Groups"]);
    const schemas = scim<List<{ id: string }>>(await entra.call("GET", "/Schemas"), 200);
    expect(schemas.Resources.map((s) => s.id)).toEqual([urn.user, urn.group]);

    // Entra looks the user up first, finds nothing, and creates them.
    const userName = `Ann.Lee.${uid("x")}@Contoso.example`;
    const none = scim<List<ScimUser>>(await entra.call("GET", `/Users?${q(`userName eq "${userName}"`)}`), 200);
    expect(none).toMatchObject({ schemas: [urn.list], totalResults: 0, Resources: [] });
    const externalId = uid("ann");
    const created = await entra.call("POST", "/Users", {
      schemas: [urn.user, urn.enterprise],
      externalId,
      userName,
      active: true,
      displayName: "Ann Lee",
      emails: [{ primary: true, type: "work", value: userName }],
      name: { formatted: "Ann Lee", familyName: "Lee", givenName: "Ann" },
      userType: "Member",
      [urn.enterprise]: { department: "Finance" },
    });
    const ann = scim<ScimUser>(created, 201);
    expect(ann).toMatchObject({ userName, externalId, displayName: "Ann Lee", active: true, userType: "Member" });
    expect(created.headers.get("location")).toBe(ann.meta.location);
    expect(ann.meta.location).toMatch(new RegExp(`${entra.base}/Users/${ann.id}$`));
    scimError(
      await entra.call("POST", "/Users", { schemas: [urn.user], userName: userName.toUpperCase() }),
      409,
      "uniqueness",
    );

    // Found by userName in any letter case, by externalId, by both, and by id.
    for (const filter of [
      `userName eq "${userName.toLowerCase()}"`,
      `externalId eq "${externalId}"`,
      `userName eq "${userName}" and externalId eq "${externalId}"`,
      `id eq "${ann.id}"`,
    ]) {
      const found = scim<List<ScimUser>>(await entra.call("GET", `/Users?${q(filter)}`), 200);
      expect(found.totalResults, filter).toBe(1);
      expect(found.Resources[0]!.id, filter).toBe(ann.id);
    }
    expect(
      scim<List<ScimUser>>(
        await entra.call("GET", `/Users?${q(`userName eq "${userName}" and externalId eq "other"`)}`),
        200,
      ).totalResults,
    ).toBe(0);

    // Updates as Entra sends them: capitalised ops, a value filter path, a dotted name, no path.
    const patched = scim<ScimUser>(
      await entra.call(
        "PATCH",
        `/Users/${ann.id}`,
        patchOp(
          { op: "Replace", path: "displayName", value: "Ann Lee-Smith" },
          { op: "Replace", path: 'emails[type eq "work"].value', value: `smith.${userName}` },
          { op: "Add", path: "name.familyName", value: "Lee-Smith" },
          { op: "replace", value: { userType: "Guest" } },
        ),
      ),
      200,
    );
    expect(patched).toMatchObject({
      displayName: "Ann Lee-Smith",
      emails: [{ type: "work", value: `smith.${userName}`, primary: true }],
      name: { familyName: "Lee-Smith", givenName: "Ann" },
      userType: "Guest",
      active: true,
    });
    const put = scim<ScimUser>(
      await entra.call("PUT", `/Users/${ann.id}`, {
        schemas: [urn.user],
        userName,
        externalId,
        displayName: "Ann Smith",
        userType: "Member",
      }),
      200,
    );
    expect(put).toMatchObject({ displayName: "Ann Smith", userType: "Member", active: true });
    expect(scim<ScimUser>(await entra.call("GET", `/Users/${ann.id}`), 200).displayName).toBe("Ann Smith");

    // The provisioned user is a member like any other: shared with, they may act.
    expect((await w.share("maker", pm, "viewer", [{ type: "user", id: ann.id }])).status).toBe(201);
    expect((await allowed(w, ann.id, pm)).allowed).toBe(true);
    const annToken = await stack.token(ann.id);
    const ownListing = () =>
      stack.api("GET", `/api/environments/${w.envId}/principals/${ann.id}/resources`, { token: annToken });
    expect((await ownListing()).status).toBe(200);

    // Soft delete: Replace active "False" (Entra's string form). Still returned; no access in the environment.
    const off = scim<ScimUser>(
      await entra.call("PATCH", `/Users/${ann.id}`, patchOp({ op: "Replace", path: "active", value: "False" })),
      200,
    );
    expect(off.active).toBe(false);
    expect(scim<ScimUser>(await entra.call("GET", `/Users/${ann.id}`), 200).active).toBe(false);
    const inactive = scim<List<ScimUser>>(await entra.call("GET", `/Users?${q(`userName eq "${userName}"`)}`), 200);
    expect(inactive.Resources.map((u) => [u.id, u.active])).toEqual([[ann.id, false]]);
    const denied = await allowed(w, ann.id, pm);
    expect(denied.allowed).toBe(false);
    expect(denied.reason).toMatch(/suspended/);
    expect((await ownListing()).status).toBe(404);

    // Restored by active true (here in a PATCH without a path).
    const on = scim<ScimUser>(
      await entra.call("PATCH", `/Users/${ann.id}`, patchOp({ op: "Replace", value: { active: true } })),
      200,
    );
    expect(on.active).toBe(true);
    expect((await allowed(w, ann.id, pm)).allowed).toBe(true);
    expect((await ownListing()).status).toBe(200);

    // Groups: looked up by displayName without members, created, found, members added and removed.
    const groupName = `Finance ${uid("g")}`;
    const byName = (name: string) =>
      entra.call("GET", `/Groups?${q(`displayName eq "${name}"`)}&excludedAttributes=members`);
    expect(scim<List<ScimGroup>>(await byName(groupName), 200).totalResults).toBe(0);
    const objectId = uid("objectid");
    const group = scim<ScimGroup>(
      await entra.call("POST", "/Groups", {
        schemas: [urn.group],
        displayName: groupName,
        externalId: objectId,
        members: [],
      }),
      201,
    );
    expect(group).toMatchObject({ displayName: groupName, externalId: objectId, members: [] });
    scimError(
      await entra.call("POST", "/Groups", { schemas: [urn.group], displayName: groupName.toUpperCase() }),
      409,
      "uniqueness",
    );
    const foundGroup = scim<List<ScimGroup>>(await byName(groupName.toLowerCase()), 200);
    expect(foundGroup.Resources.map((g) => g.id)).toEqual([group.id]);
    expect(foundGroup.Resources[0]).not.toHaveProperty("members");
    expect(
      scim<List<ScimGroup>>(await entra.call("GET", `/Groups?${q(`externalId eq "${objectId}"`)}`), 200).Resources[0]
        ?.id,
    ).toBe(group.id);

    const members = async () =>
      (scim<ScimGroup>(await entra.call("GET", `/Groups/${group.id}`), 200).members ?? []).map((m) => m.value);
    const patchGroup = async (...ops: unknown[]) => {
      const r = await entra.call("PATCH", `/Groups/${group.id}`, patchOp(...ops));
      expect(r.status, r.text).toBe(204);
    };
    await patchGroup({ op: "Add", path: "members", value: [{ value: ann.id }] });
    expect(await members()).toEqual([ann.id]);
    // A role held through the group counts for checks at once.
    const other = await w.resource("maker", { kind: "processMining", analyticsReady: true });
    expect((await w.share("maker", other, "viewer", [{ type: "group", id: group.id }])).status).toBe(201);
    expect((await allowed(w, ann.id, other)).allowed).toBe(true);
    await patchGroup({ op: "Remove", path: "members", value: [{ value: ann.id }] });
    expect(await members()).toEqual([]);
    expect((await allowed(w, ann.id, other)).allowed).toBe(false);
    await patchGroup({ op: "ADD", path: "members", value: [{ value: ann.id }] });
    await patchGroup({ op: "remove", path: `members[value eq "${ann.id}"]` });
    expect(await members()).toEqual([]);
    await patchGroup({ op: "Replace", path: "displayName", value: `${groupName} (renamed)` });
    expect(scim<ScimGroup>(await entra.call("GET", `/Groups/${group.id}`), 200).displayName).toBe(
      `${groupName} (renamed)`,
    );
    expect(scim<List<ScimGroup>>(await byName(groupName), 200).totalResults).toBe(0);

    // Deletes: the membership goes (the tenant user stays); the group goes.
    expect((await entra.call("DELETE", `/Users/${ann.id}`)).status).toBe(204);
    scimError(await entra.call("GET", `/Users/${ann.id}`), 404);
    expect(
      scim<List<ScimUser>>(await entra.call("GET", `/Users?${q(`userName eq "${userName}"`)}`), 200).totalResults,
    ).toBe(0);
    const search = await stack.api(
      "GET",
      `/api/environments/${w.envId}/directory?search=${encodeURIComponent("Ann Smith")}`,
      {
        token: w.adminToken,
      },
    );
    expect(search.status, search.text).toBe(200);
    const listed = (search.json as { items: { id: string; isMember: boolean }[] }).items.find((e) => e.id === ann.id);
    expect(listed?.isMember).toBe(false);
    scimError(await entra.call("DELETE", `/Users/${ann.id}`), 404);
    expect((await entra.call("DELETE", `/Groups/${group.id}`)).status).toBe(204);
    scimError(await entra.call("GET", `/Groups/${group.id}`), 404);

    // Provisioned again after the delete: the same tenant user comes back as a member.
    const again = scim<ScimUser>(
      await entra.call("POST", "/Users", { schemas: [urn.user], userName, externalId }),
      201,
    );
    expect(again.id).toBe(ann.id);
  });

  it("answers SCIM errors: bad filters, unknown ids, bad bodies, wrong callers, unknown environments", async () => {
    const w = await newWorld(stack);
    const entra = client(w, await stack.token(uid("entra"), ["Sharing.Provisioning"]));
    for (const filter of [
      'userName co "a"',
      'userName eq "a" or userName eq "b"',
      "title pr",
      'emails.value eq "a"',
      "userName eq",
    ])
      scimError(await entra.call("GET", `/Users?${q(filter)}`), 400, "invalidFilter");
    scimError(await entra.call("GET", `/Groups?${q('members eq "x"')}`), 400, "invalidFilter");
    scimError(await entra.call("GET", "/Users/nobody-here"), 404);
    scimError(await entra.call("GET", "/Groups/nobody-here"), 404);
    scimError(
      await entra.call("PATCH", "/Users/nobody-here", patchOp({ op: "Replace", path: "active", value: false })),
      404,
    );
    scimError(await entra.call("DELETE", "/Groups/nobody-here"), 404);
    const noUserName = scimError(
      await entra.call("POST", "/Users", { schemas: [urn.user], displayName: "x" }),
      400,
      "invalidValue",
    );
    expect(noUserName.detail).toMatch(/body\.userName/);
    scimError(
      await entra.call("POST", "/Users", { schemas: [urn.user], userName: "not an email" }),
      400,
      "invalidValue",
    );
    const badJson = await stack.api("POST", `${entra.base}/Users`, {
      token: await stack.token(uid("entra"), ["Sharing.Provisioning"]),
      headers: { "content-type": "application/scim+json" },
      body: "{not json",
    });
    scimError(badJson, 400, "invalidSyntax");
    scimError(await entra.call("PATCH", "/Groups/x", patchOp({ op: "Move", path: "members" })), 400);

    const user = scim<ScimUser>(await entra.call("POST", "/Users", { userName: `${uid("bo")}@contoso.example` }), 201);
    scimError(
      await entra.call("PATCH", `/Users/${user.id}`, patchOp({ op: "Replace", path: "id", value: "other" })),
      400,
      "mutability",
    );
    scimError(
      await entra.call("PATCH", `/Users/${user.id}`, patchOp({ op: "Replace", path: "active", value: "maybe" })),
      400,
      "invalidValue",
    );

    // Wrong callers: an admin app, a checker app, an environment admin user: 403; no token: 401.
    for (const roles of [["Sharing.Admin"], ["Sharing.Check"], []]) {
      const token = await stack.token(uid("app"), roles);
      scimError(await entra.call("GET", "/Users", undefined, token), 403);
      scimError(await entra.call("POST", "/Groups", { displayName: "x" }, token), 403);
    }
    await w.user("boss", { roles: ["SystemAdministrator"] });
    scimError(await entra.call("GET", "/ServiceProviderConfig", undefined, await w.token("boss")), 403);
    const anonymous = await stack.api("GET", `${entra.base}/Users`);
    scimError(anonymous, 401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Bearer/);

    const elsewhere = client(
      { ...w, envId: uid("env-none") },
      await stack.token(uid("entra"), ["Sharing.Provisioning"]),
    );
    scimError(await elsewhere.call("GET", "/Users"), 404);
    scimError(await elsewhere.call("GET", "/ServiceProviderConfig"), 404);
  });

  it("finds and suspends a member the directory routes added; the audit then flags what they own as having no enabled owner", async () => {
    const w = await newWorld(stack);
    await w.user("maker");
    const pm = await w.resource("maker", { kind: "processMining" });
    const entra = client(w, await stack.token(uid("entra"), ["Sharing.Provisioning"]));
    const found = scim<List<ScimUser>>(
      await entra.call("GET", `/Users?${q(`userName eq "${w.email("maker")}"`)}`),
      200,
    );
    expect(found.Resources.map((u) => [u.id, u.displayName, u.active])).toEqual([
      [w.id("maker"), w.person("maker").displayName, true],
    ]);
    scim<ScimUser>(
      await entra.call("PATCH", `/Users/${w.id("maker")}`, patchOp({ op: "Replace", path: "active", value: false })),
      200,
    );
    // Setting roles through the directory route keeps the suspension: only provisioning lifts it.
    const roles = await stack.api("PUT", `/api/environments/${w.envId}/users/${w.id("maker")}`, {
      token: w.adminToken,
      body: { securityRoles: ["EnvironmentMaker"] },
    });
    expect(roles.status, roles.text).toBe(200);
    expect((await allowed(w, w.id("maker"), pm)).reason).toMatch(/suspended/);
    const report = await finishedAudit(stack, w.envId, w.adminToken);
    expect(report.findings.filter((f) => f.rule === "noEnabledOwner").map((f) => f.resourceId)).toEqual([pm]);
  });

  it("lists without a filter in pages of startIndex and count, inactive users included", async () => {
    const w = await newWorld(stack);
    const entra = client(w, await stack.token(uid("entra"), ["Sharing.Provisioning"]));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const u = scim<ScimUser>(
        await entra.call("POST", "/Users", { userName: `${uid(`p${i}`)}@contoso.example`, active: i !== 2 }),
        201,
      );
      ids.push(u.id);
    }
    const seen: string[] = [];
    for (const startIndex of [1, 3, 5]) {
      const page = scim<List<ScimUser>>(await entra.call("GET", `/Users?startIndex=${startIndex}&count=2`), 200);
      expect(page).toMatchObject({ schemas: [urn.list], totalResults: 5, startIndex });
      expect(page.itemsPerPage).toBe(page.Resources.length);
      seen.push(...page.Resources.map((u) => u.id));
    }
    expect(seen.sort()).toEqual([...ids].sort());
    const all = scim<List<ScimUser>>(await entra.call("GET", "/Users?count=100"), 200);
    expect(all.Resources.find((u) => u.id === ids[2])?.active).toBe(false);
    const none = scim<List<ScimUser>>(await entra.call("GET", "/Users?count=0"), 200);
    expect(none).toMatchObject({ totalResults: 5, itemsPerPage: 0, Resources: [] });
  });
});
