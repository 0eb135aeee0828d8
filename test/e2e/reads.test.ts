/**
 * The reads of everything written (contract v2, "Reading what was written"), through HTTP: each
 * list walked page by page with `top`, and the 403s and 404s the contract gives each caller.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../support/stack.js";
import { expectProblem, expectStatus, newWorld, uid } from "../support/world.js";

interface Page<T> {
  items: T[];
  continuationToken?: string;
}

describe("reading what was written, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  /** Every page of a list, following the tokens; each page is checked against `top`. */
  async function walk<T>(path: string, token: string, top: number): Promise<{ items: T[]; pages: number }> {
    const items: T[] = [];
    let pages = 0;
    let next: string | undefined;
    do {
      const sep = path.includes("?") ? "&" : "?";
      const url = `${path}${sep}top=${top}${next ? `&continuationToken=${encodeURIComponent(next)}` : ""}`;
      const r = await expectStatus(stack, 200, "GET", url, { token });
      const page = r.json as Page<T>;
      expect(page.items.length).toBeLessThanOrEqual(top);
      items.push(...page.items);
      next = page.continuationToken;
      pages++;
      if (pages > 200) throw new Error(`${path} did not end`);
    } while (next);
    return { items, pages };
  }

  const app = (role: string) => stack.token(uid("app"), [role]);

  it("the OpenAPI document lists every read with its response schema and paging parameters", async () => {
    const doc = (await expectStatus(stack, 200, "GET", "/api/openapi.json")).json as {
      paths: Record<
        string,
        Record<
          string,
          {
            parameters?: { name: string; in: string }[];
            responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
          }
        >
      >;
    };
    const paged = [
      "/environments",
      "/environments/{envId}/users",
      "/environments/{envId}/groups",
      "/environments/{envId}/groups/{groupId}/members",
      "/environments/{envId}/resources",
    ];
    const single = ["/environments/{envId}", "/users/{userId}", "/environments/{envId}/groups/{groupId}"];
    for (const path of [...paged, ...single]) {
      const op = (doc.paths[path] ?? doc.paths[`/api${path}`])?.get;
      expect(op, path).toBeDefined();
      expect(op!.responses["200"]?.content?.["application/json"]?.schema, path).toBeDefined();
      if (paged.includes(path))
        expect(
          op!.parameters?.filter((p) => p.in === "query").map((p) => p.name),
          path,
        ).toEqual(expect.arrayContaining(["continuationToken", "top"]));
    }
  });

  it("GET /api/environments: all for Sharing.Admin, a user's own for a user, in pages", async () => {
    const w = await newWorld(stack);
    const member = await w.user("member");
    const more = [uid("env"), uid("env")];
    for (const envId of more) {
      await expectStatus(stack, 201, "PUT", `/api/environments/${envId}`, {
        token: w.adminToken,
        body: { displayName: `Env ${envId}` },
      });
      await expectStatus(stack, 201, "PUT", `/api/environments/${envId}/users/${member}`, {
        token: w.adminToken,
        body: { securityRoles: ["BasicUser"] },
      });
    }
    const mine = await walk<{ envId: string; displayName: string }>("/api/environments", await w.token("member"), 1);
    expect(mine.items.map((e) => e.envId).sort()).toEqual([w.envId, ...more].sort());
    expect(mine.pages).toBeGreaterThanOrEqual(3);
    expect(mine.items.find((e) => e.envId === w.envId)?.displayName).toBe(`Env ${w.envId}`);

    const all = await walk<{ envId: string }>("/api/environments", w.adminToken, 1);
    expect(all.pages).toBeGreaterThanOrEqual(3);
    expect(all.items.map((e) => e.envId)).toEqual(expect.arrayContaining([w.envId, ...more]));
    expect(new Set(all.items.map((e) => e.envId)).size).toBe(all.items.length);

    // A user in no environment lists none; an Audit app is neither an admin nor a user.
    const stranger = await stack.token(uid("stranger"));
    expect((await expectStatus(stack, 200, "GET", "/api/environments", { token: stranger })).json).toEqual({
      items: [],
    });
    expect(
      expectProblem(await stack.api("GET", "/api/environments", { token: await app("Sharing.Audit") }), 403).detail,
    ).toMatch(/Sharing.Admin/);
  });

  it("GET /api/environments/{envId}: Sharing.Admin or a member; 404 for outsiders and unknown ids", async () => {
    const w = await newWorld(stack, { sensitive: true });
    await w.user("member", { roles: ["BasicUser"] });
    await w.user("outsider", { roles: null });
    const path = `/api/environments/${w.envId}`;
    const asMember = await expectStatus(stack, 200, "GET", path, { token: await w.token("member") });
    expect(asMember.json).toMatchObject({ envId: w.envId, displayName: `Env ${w.envId}`, sensitive: true });
    expect((await expectStatus(stack, 200, "GET", path, { token: w.adminToken })).json).toMatchObject({
      envId: w.envId,
    });
    expectProblem(await stack.api("GET", path, { token: await w.token("outsider") }), 404);
    expectProblem(await stack.api("GET", `/api/environments/${uid("nope")}`, { token: w.adminToken }), 404);
    expectProblem(await stack.api("GET", path, { token: await app("Sharing.Audit") }), 403);
  });

  it("GET /api/users/{userId}: Sharing.Admin, Sharing.Provisioning or the user; 403 for others, 404 for unknown", async () => {
    const w = await newWorld(stack);
    const alice = await w.user("alice", { displayName: "Alice A" });
    const bob = await w.user("bob");
    const path = `/api/users/${alice}`;
    const expected = {
      userId: alice,
      email: `${alice}@contoso.example`,
      displayName: "Alice A",
      userType: "member",
      enabled: true,
      license: "paid",
    };
    expect((await expectStatus(stack, 200, "GET", path, { token: await w.token("alice") })).json).toEqual(expected);
    expect((await expectStatus(stack, 200, "GET", path, { token: w.adminToken })).json).toEqual(expected);
    const provisioner = await app("Sharing.Provisioning");
    expect((await expectStatus(stack, 200, "GET", path, { token: provisioner })).json).toEqual(expected);
    expect(expectProblem(await stack.api("GET", path, { token: await w.token("bob") }), 403).detail).toMatch(
      /themselves/,
    );
    // Refused before the directory is read: a 403 tells bob nothing about whether an id exists.
    expectProblem(await stack.api("GET", `/api/users/${uid("ghost")}`, { token: await w.token("bob") }), 403);
    expectProblem(await stack.api("GET", `/api/users/${uid("ghost")}`, { token: provisioner }), 404);
    expect(bob).not.toBe(alice);
  });

  it("Sharing.Provisioning writes and reads the directory routes, and nothing else", async () => {
    const w = await newWorld(stack);
    const provisioner = await app("Sharing.Provisioning");
    const userId = uid("synced");
    await expectStatus(stack, 201, "PUT", `/api/users/${userId}`, {
      token: provisioner,
      body: {
        email: `${userId}@contoso.example`,
        displayName: "Synced",
        userType: "member",
        enabled: true,
        license: "paid",
      },
    });
    await expectStatus(stack, 201, "PUT", `/api/environments/${w.envId}/users/${userId}`, {
      token: provisioner,
      body: { securityRoles: ["BasicUser"] },
    });
    const groupId = uid("grp");
    await expectStatus(stack, 201, "PUT", `/api/environments/${w.envId}/groups/${groupId}`, {
      token: provisioner,
      body: { displayName: "Synced group", kind: "securityGroup", memberIds: [userId] },
    });
    expect(
      (
        await expectStatus(stack, 200, "PATCH", `/api/environments/${w.envId}/groups/${groupId}/members`, {
          token: provisioner,
          body: { remove: [userId] },
        })
      ).json,
    ).toEqual({ added: [], removed: [userId] });
    const members = await walk<{ userId: string }>(`/api/environments/${w.envId}/users`, provisioner, 100);
    expect(members.items.map((m) => m.userId)).toEqual([userId]);
    await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/groups/${groupId}`, { token: provisioner });
    // Not an environment admin: the environment itself, its resources and its log are refused, with 403
    // saying what the role allows (also where the environment doesn't exist: the role never allows it).
    const maker = await w.user("maker");
    const resourceId = await w.resource("maker", { kind: "processMining" });
    const env = `/api/environments/${w.envId}`;
    for (const [method, path, body] of [
      ["PUT", env, { displayName: "x" }],
      ["GET", env],
      ["GET", `${env}/resources`],
      ["GET", `${env}/resources/${resourceId}`],
      ["GET", `${env}/changes`],
      ["POST", `${env}/check`, { checks: [{ principalId: maker, resourceId, action: "processMining.delete" }] }],
      ["GET", `/api/environments/${uid("nope")}/resources/${resourceId}`],
    ] as const) {
      const r = await stack.api(method, path, { token: provisioner, ...(body ? { body } : {}) });
      expect(expectProblem(r, 403).detail, `${method} ${path}`).toMatch(/Sharing\.Provisioning app role only allows/);
    }
  });

  it("GET .../users: the memberships in pages, for admins and directory apps; 403 for members, 404 for outsiders", async () => {
    const w = await newWorld(stack);
    await w.user("admin", { roles: ["SystemAdministrator"] });
    for (const n of ["a", "b", "c", "d"]) await w.user(n, { roles: n === "a" ? ["BasicUser"] : ["EnvironmentMaker"] });
    await w.user("outsider", { roles: null });
    const path = `/api/environments/${w.envId}/users`;
    const r = await walk<{ userId: string; securityRoles: string[]; addedBy: string }>(path, await w.token("admin"), 2);
    expect(r.pages).toBeGreaterThanOrEqual(3);
    const ids = ["admin", "a", "b", "c", "d"].map((n) => w.id(n)).sort();
    expect(r.items.map((m) => m.userId)).toEqual(ids);
    expect(r.items.find((m) => m.userId === w.id("a"))).toEqual({
      envId: w.envId,
      userId: w.id("a"),
      securityRoles: ["BasicUser"],
      addedBy: "admin",
    });
    expect((await walk(path, w.adminToken, 100)).items).toHaveLength(5);
    expect(expectProblem(await w.as("b", "GET", "users"), 403).detail).toMatch(/SystemAdministrator/);
    expectProblem(await w.as("outsider", "GET", "users"), 404);
    expectProblem(await stack.api("GET", `/api/environments/${uid("nope")}/users`, { token: w.adminToken }), 404);
    for (const bad of ["top=0", "top=101", "top=x"])
      expect(expectProblem(await stack.api("GET", `${path}?${bad}`, { token: w.adminToken }), 400).errors).toEqual([
        expect.objectContaining({ field: "query.top" }),
      ]);
    expect(
      expectProblem(await stack.api("GET", `${path}?continuationToken=garbage`, { token: w.adminToken }), 400).errors,
    ).toEqual([expect.objectContaining({ field: "query.continuationToken" })]);
  });

  it("GET .../groups and a group's members in pages, without internal fields", async () => {
    const w = await newWorld(stack);
    await w.user("admin", { roles: ["SystemAdministrator"] });
    const names = ["m1", "m2", "m3", "m4", "m5"];
    for (const n of names) await w.user(n);
    await w.user("outsider", { roles: null });
    const groupIds = ["g1", "g2", "g3", "g4", "g5"].map((g) => uid(g));
    for (const [i, g] of groupIds.entries())
      await w.group(g, i === 0 ? names : [names[i]!], i === 4 ? "sharePointList" : "securityGroup", `Group ${i}`);
    const groups = await walk<Record<string, unknown>>(
      `/api/environments/${w.envId}/groups`,
      await w.token("admin"),
      2,
    );
    expect(groups.pages).toBeGreaterThanOrEqual(3);
    expect(groups.items.map((g) => g.groupId)).toEqual([...groupIds].sort());
    for (const g of groups.items) expect(Object.keys(g).sort()).toEqual(["displayName", "envId", "groupId", "kind"]);
    expect(groups.items.find((g) => g.groupId === groupIds[4])?.kind).toBe("sharePointList");

    const members = await walk<{ userId: string }>(
      `/api/environments/${w.envId}/groups/${groupIds[0]}/members`,
      await w.token("admin"),
      2,
    );
    expect(members.pages).toBeGreaterThanOrEqual(3);
    expect(members.items.map((m) => m.userId).sort()).toEqual(names.map((n) => w.id(n)).sort());
    const one = await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/groups/${groupIds[0]}`, {
      token: await w.token("admin"),
    });
    expect(one.json).toEqual({ envId: w.envId, groupId: groupIds[0], displayName: "Group 0", kind: "securityGroup" });

    expectProblem(await w.as("m1", "GET", "groups"), 403);
    expectProblem(await w.as("outsider", "GET", "groups"), 404);
    expectProblem(await w.as("admin", "GET", `groups/${uid("nope")}`), 404);
    expectProblem(await w.as("admin", "GET", `groups/${uid("nope")}/members`), 404);
    expectProblem(await w.as("admin", "GET", `groups/${groupIds[0]}/members?top=101`), 400);
  });

  it("GET .../resources: the resources with their owners, by kind and by owner, in pages", async () => {
    const w = await newWorld(stack);
    await w.user("admin", { roles: ["SystemAdministrator"] });
    await w.user("maker");
    await w.user("other");
    await w.user("co");
    await w.user("outsider", { roles: null });
    const pm: string[] = [];
    for (let i = 0; i < 3; i++) pm.push(await w.resource("maker", { kind: "processMining", displayName: `PM ${i}` }));
    const tm = await w.resource("other", { kind: "taskMining", displayName: "TM" });
    const flow = await w.resource("other", { kind: "cloudFlow", triggerKind: "instant", solutionAware: true });
    expect((await w.share("maker", pm[0]!, "coOwner", [{ type: "user", id: w.id("co") }])).status).toBe(201);
    expect((await w.share("maker", pm[0]!, "viewer", [{ type: "user", id: w.id("other") }])).status).toBe(201);
    expect((await w.share("other", flow, "owner", [{ type: "user", id: w.id("maker") }])).status).toBe(201);
    const path = `/api/environments/${w.envId}/resources`;
    type Item = {
      resourceId: string;
      kind: string;
      ownerId: string;
      owners: { type: string; id: string; role: string }[];
    };

    const all = await walk<Item>(path, await w.token("admin"), 2);
    expect(all.pages).toBeGreaterThanOrEqual(3);
    expect(all.items.map((r) => r.resourceId).sort()).toEqual([...pm, tm, flow].sort());
    const first = all.items.find((r) => r.resourceId === pm[0])!;
    expect(first.ownerId).toBe(w.id("maker"));
    expect(first.owners).toEqual(
      expect.arrayContaining([
        { type: "user", id: w.id("maker"), role: "owner" },
        { type: "user", id: w.id("co"), role: "coOwner" },
      ]),
    );
    expect(first.owners).toHaveLength(2); // the viewer is no owner
    expect(all.items.find((r) => r.resourceId === flow)!.owners).toHaveLength(2);

    const pms = await walk<Item>(`${path}?kind=processMining`, w.adminToken, 1);
    expect(pms.items.map((r) => r.resourceId).sort()).toEqual([...pm].sort());
    expect(pms.pages).toBeGreaterThanOrEqual(3);

    const makers = await walk<Item>(`${path}?ownerId=${w.id("maker")}`, await w.token("admin"), 1);
    expect(makers.items.map((r) => r.resourceId).sort()).toEqual([...pm, flow].sort());
    expect(makers.pages).toBeGreaterThanOrEqual(3);
    const cos = await walk<Item>(`${path}?ownerId=${w.id("co")}&kind=processMining`, w.adminToken, 100);
    expect(cos.items.map((r) => r.resourceId)).toEqual([pm[0]]);

    // A revoked co-owner is no owner any more.
    expect((await w.as("maker", "DELETE", `resources/${pm[0]}/shares/user/${w.id("co")}/coOwner`)).status).toBe(200);
    expect((await walk<Item>(`${path}?ownerId=${w.id("co")}`, w.adminToken, 100)).items).toEqual([]);

    expect((await walk<Item>(path, await app("Sharing.Audit"), 100)).items).toHaveLength(5);
    expect(expectProblem(await w.as("maker", "GET", "resources"), 403).detail).toMatch(/Sharing.Audit/);
    expectProblem(await w.as("outsider", "GET", "resources"), 404);
    expectProblem(await stack.api("GET", `/api/environments/${uid("nope")}/resources`, { token: w.adminToken }), 404);
    expect(expectProblem(await w.as("admin", "GET", "resources?kind=spreadsheet"), 400).errors).toEqual([
      expect.objectContaining({ field: "query.kind" }),
    ]);
    // A token of the owner listing is not one of the catalog listing.
    const owned = (
      await expectStatus(stack, 200, "GET", `${path}?ownerId=${w.id("maker")}&top=1`, { token: w.adminToken })
    ).json as Page<Item>;
    expect(owned.continuationToken).toBeDefined();
    expectProblem(
      await stack.api("GET", `${path}?continuationToken=${encodeURIComponent(owned.continuationToken!)}`, {
        token: w.adminToken,
      }),
      400,
    );
  });
});
