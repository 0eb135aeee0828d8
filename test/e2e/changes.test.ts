import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../support/stack.js";
import { expectStatus, newWorld, uid } from "../support/world.js";

interface Item {
  at: string;
  actorId: string;
  action: string;
  resourceId?: string;
  principal?: { type: string; id: string };
  role?: string;
  detail: string;
}
interface Page {
  items: Item[];
  continuationToken?: string;
}

describe("the change log, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  async function world() {
    const w = await newWorld(stack);
    const admin = await w.user("admin", { roles: ["SystemAdministrator"] });
    const maker = await w.user("maker");
    const co = await w.user("co");
    const viewer = await w.user("viewer", { roles: ["BasicUser"] });
    const other = await w.user("other");
    const env = w.envId;
    const p1 = `/api/environments/${env}/resources/p1`;
    const p2 = `/api/environments/${env}/resources/p2`;
    await expectStatus(stack, 201, "PUT", p1, {
      token: await w.token("maker"),
      body: { kind: "processMining", displayName: "Invoices", creatorId: maker },
    });
    await expectStatus(stack, 201, "PUT", p2, {
      token: await w.token("other"),
      body: { kind: "processMining", displayName: "Orders", creatorId: other },
    });
    const shareWith = async (path: string, who: string, role: string, ids: string[]) =>
      expectStatus(stack, 201, "POST", `${path}/shares`, {
        token: await w.token(who),
        body: { role, principals: ids.map((x) => ({ type: "user", id: x })), sendInvitation: false },
      });
    await shareWith(p1, "maker", "coOwner", [co]);
    await shareWith(p1, "maker", "viewer", [viewer]);
    const changes = (query: string, token: string) =>
      stack.api("GET", `/api/environments/${env}/changes${query}`, { token });
    return { ...w, admin, maker, co, viewer, other, p1, p2, shareWith, changes };
  }

  async function all(
    w: Awaited<ReturnType<typeof world>>,
    query: string,
    token: string,
  ): Promise<{ items: Item[]; pages: number }> {
    const items: Item[] = [];
    let pages = 0;
    let next: string | undefined;
    do {
      const sep = query.includes("?") ? "&" : "?";
      const r = await w.changes(`${query}${next ? `${sep}continuationToken=${encodeURIComponent(next)}` : ""}`, token);
      expect(r.status).toBe(200);
      const page = r.json as Page;
      items.push(...page.items);
      next = page.continuationToken;
      pages++;
    } while (next);
    return { items, pages };
  }

  it("lists every change newest first, in pages, for admins and Sharing.Audit apps", async () => {
    const w = await world();
    // Tenant users outside the environment: sharing with them makes them members.
    const crowd: string[] = [];
    for (let i = 0; i < 60; i++) crowd.push(await w.user(`u${i}`, { roles: null }));
    for (let i = 0; i < crowd.length; i += 20) await w.shareWith(w.p2, "other", "viewer", crowd.slice(i, i + 20));
    await expectStatus(stack, 200, "DELETE", `${w.p1}/shares/user/${w.viewer}/viewer`, {
      token: await w.token("maker"),
    });

    const first = (await w.changes("", await w.token("admin"))).json as Page;
    expect(first.items).toHaveLength(50);
    expect(first.continuationToken).toBeDefined();
    expect(first.items[0]).toMatchObject({
      action: "revoke",
      actorId: w.maker,
      resourceId: "p1",
      principal: { type: "user", id: w.viewer },
      role: "viewer",
    });
    const everything = await all(w, "", await w.token("admin"));
    expect(everything.pages).toBeGreaterThan(2);
    const times = everything.items.map((i) => i.at);
    expect(times).toEqual([...times].sort().reverse());
    const actions = everything.items.map((i) => i.action);
    expect(actions.filter((a) => a === "grant")).toHaveLength(62);
    expect(actions.filter((a) => a === "member.added")).toHaveLength(60);
    expect(actions.filter((a) => a === "resource.registered")).toHaveLength(2);
    expect(actions.filter((a) => a === "revoke")).toHaveLength(1);
    const auditor = await stack.token(uid("auditor"), ["Sharing.Audit"]);
    expect((await all(w, "", auditor)).items).toEqual(everything.items);
  });

  it("filters by resource and by principal, and lets a resource's owners read their resource's log only", async () => {
    const w = await world();
    const ofP1 = await all(w, "?resourceId=p1", await w.token("maker"));
    expect(ofP1.items.map((i) => i.action)).toEqual(["grant", "grant", "resource.registered"]);
    expect(ofP1.items.every((i) => i.resourceId === "p1")).toBe(true);
    expect((await all(w, "?resourceId=p1", await w.token("co"))).items).toEqual(ofP1.items);
    expect((await all(w, "?resourceId=p1", await w.token("admin"))).items).toEqual(ofP1.items);

    const aboutViewer = await all(w, `?principalId=${w.viewer}`, await w.token("admin"));
    // Newest first: the grant, then the viewer joining the environment (directory changes are logged too).
    expect(aboutViewer.items.map((i) => i.action)).toEqual(["grant", "membership.added"]);
    const byMaker = await all(w, `?resourceId=p1&principalId=${w.maker}`, await w.token("maker"));
    expect(byMaker.items.map((i) => i.action)).toEqual(["grant", "grant", "resource.registered"]);

    expect((await w.changes("?resourceId=p1", await w.token("viewer"))).status).toBe(403);
    expect((await w.changes("", await w.token("maker"))).status).toBe(403);
    expect((await w.changes("?resourceId=p1", await w.token("other"))).status).toBe(404);
    expect((await w.changes("", await stack.token(uid("outsider")))).status).toBe(404);
    expect((await w.changes("", await stack.token(uid("checker"), ["Sharing.Check"]))).status).toBe(403);
    expect((await w.changes("", "not-a-token")).status).toBe(401);
    const bad = await w.changes("?continuationToken=garbage", await w.token("admin"));
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ errors: [{ field: "query.continuationToken" }] });
  });

  it("keeps a deleted resource's history for admins", async () => {
    const w = await world();
    await expectStatus(stack, 204, "DELETE", w.p1, { token: await w.token("maker") });
    const history = await all(w, "?resourceId=p1", await w.token("admin"));
    expect(history.items.map((i) => i.action)).toEqual(["resource.deleted", "grant", "grant", "resource.registered"]);
    expect((await w.changes("?resourceId=p1", await w.token("maker"))).status).toBe(404);
  });
});
