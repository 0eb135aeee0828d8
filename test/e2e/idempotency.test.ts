import { HttpRequest } from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestHash } from "../../shared/adapters/http/idempotency.js";
import { mailTo, waitForMail } from "../support/mail.js";
import { startStack, type ApiResult, type Stack } from "../support/stack.js";
import { stackCaps } from "../support/stackCaps.js";
import { expectStatus, newWorld, uid, type World } from "../support/world.js";

interface Change {
  action: string;
  principal?: { type: string; id: string };
}

describe("Idempotency-Key on the creating POSTs, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  async function world() {
    const w = await newWorld(stack);
    await w.user("admin", { roles: ["SystemAdministrator"] });
    const maker = await w.user("maker");
    await w.user("heir");
    const p1 = await w.resource("maker", { kind: "processMining", displayName: "Invoices" });
    const post = async (who: string, path: string, key: string | undefined, body?: unknown): Promise<ApiResult> =>
      stack.api("POST", path.startsWith("/api/") ? path : `/api/environments/${w.envId}/${path}`, {
        token: await w.token(who),
        ...(body !== undefined ? { body } : {}),
        headers: key === undefined ? {} : { "idempotency-key": key },
      });
    return { ...w, maker, p1, post };
  }

  const grantsOf = async (w: World, principalId: string) => {
    const r = await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/changes?principalId=${principalId}`, {
      token: w.adminToken,
    });
    return (r.json as { items: Change[] }).items.filter((c) => c.action === "grant");
  };

  const expectReplay = (first: ApiResult, again: ApiResult) => {
    expect(again.status).toBe(first.status);
    expect(again.text).toBe(first.text);
    expect(again.headers.get("idempotency-replayed")).toBe("true");
    expect(first.headers.get("idempotency-replayed")).toBeNull();
  };

  it("replays a share retried with the same key and body: one grant, one email", async () => {
    const w = await world();
    const invitee = await w.user("invitee", { roles: null });
    const body = { role: "viewer", principals: [{ type: "user", id: invitee }], message: "see this" };
    const first = await w.post("maker", `resources/${w.p1}/shares`, "share-key-1", body);
    expect(first.status, first.text).toBe(201);
    // The same body with its keys in another order is the same request.
    const reordered = { message: "see this", principals: [{ id: invitee, type: "user" }], role: "viewer" };
    const again = await w.post("maker", `resources/${w.p1}/shares`, "share-key-1", reordered);
    expectReplay(first, again);

    // The mailer sends in order: once a later invitation has arrived, a second one to the invitee would have too.
    await waitForMail(stack, w.email("invitee"), 1);
    const later = await w.user("later", { roles: null });
    await w.post("maker", `resources/${w.p1}/shares`, undefined, {
      ...body,
      principals: [{ type: "user", id: later }],
    });
    await waitForMail(stack, w.email("later"), 1);
    expect(mailTo(stack, w.email("invitee"))).toHaveLength(1);
    expect(await grantsOf(w, invitee)).toHaveLength(1);
  });

  it("refuses the key with another body (422) and keeps each caller's keys apart", async () => {
    const w = await world();
    const viewer = await w.user("viewer");
    const body = { role: "viewer", principals: [{ type: "user", id: viewer }], sendInvitation: false };
    const path = `resources/${w.p1}/shares`;
    expect((await w.post("maker", path, "key-2", body)).status).toBe(201);
    const other = await w.post("maker", path, "key-2", { ...body, role: "contributor" });
    expect(other.status).toBe(422);
    expect(other.headers.get("content-type")).toContain("application/problem+json");
    expect(other.text).toContain("Idempotency-Key was used with another request");

    // The admin's key of the same name is theirs: their request runs (200: the viewer already holds the role).
    const admins = await w.post("admin", path, "key-2", body);
    expect(admins.status, admins.text).toBe(200);
    expect(admins.headers.get("idempotency-replayed")).toBeNull();
    expect(await grantsOf(w, viewer)).toHaveLength(1);
  });

  it("refuses a bad key with a 400 naming the header", async () => {
    const w = await world();
    const r = await w.post("maker", "audits", "x".repeat(256));
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ errors: [{ field: "header.idempotency-key" }] });
  });

  it("answers 409 while the first request with the key runs", async () => {
    const w = await world();
    const viewer = await w.user("viewer");
    const body = { role: "viewer", principals: [{ type: "user", id: viewer }], sendInvitation: false };
    const bodyText = JSON.stringify(body);
    // The first attempt, as far as storage knows, has claimed the key and not answered: exactly what
    // the app writes before running, written by the app's own store on the stack's storage.
    const request = new HttpRequest({
      method: "POST",
      url: `${stack.baseUrl}/api/environments/${w.envId}/resources/${w.p1}/shares`,
      params: { envId: w.envId, resourceId: w.p1 },
      body: { string: bodyText },
    });
    const begun = await stackCaps(stack).idempotency.begin(
      { callerId: w.maker, route: "share", key: "held" },
      requestHash(request, bodyText),
      new Date(),
    );
    expect(begun.kind).toBe("run");
    const during = await w.post("maker", `resources/${w.p1}/shares`, "held", body);
    expect(during.status, during.text).toBe(409);
    expect(during.headers.get("retry-after")).toBe("1");
    expect(await grantsOf(w, viewer)).toHaveLength(0);
  });

  it("runs two concurrent requests with one key once", async () => {
    const w = await world();
    const people: string[] = [];
    for (let i = 0; i < 20; i++) people.push(await w.user(`u${i}`, { roles: null }));
    const body = { role: "viewer", principals: people.map((id) => ({ type: "user", id })), sendInvitation: false };
    const [a, b] = await Promise.all([
      w.post("maker", `resources/${w.p1}/shares`, "race", body),
      w.post("maker", `resources/${w.p1}/shares`, "race", body),
    ]);
    // One ran; the other either found it running (409) or, if it came after the answer, replayed it.
    const ran = [a, b].filter((r) => r.status === 201 && r.headers.get("idempotency-replayed") === null);
    expect(ran).toHaveLength(1);
    const otherOne = ran[0] === a ? b : a;
    if (otherOne.status !== 409) expectReplay(ran[0]!, otherOne);
    for (const id of people.slice(0, 3)) expect(await grantsOf(w, id)).toHaveLength(1);
  });

  it("honours the key on copies, instantiate, audits, reassignments and offboardings", async () => {
    const w = await world();
    const bob = await w.user("bob");
    const flow = uid("flow");
    await expectStatus(stack, 201, "PUT", `/api/environments/${w.envId}/resources/${flow}`, {
      token: await w.token("maker"),
      body: { kind: "cloudFlow", displayName: "Flow", creatorId: w.maker, solutionAware: true, triggerKind: "instant" },
    });

    const copyBody = { recipientIds: [bob], displayName: "Mine" };
    const copies = await w.post("maker", `resources/${flow}/copies`, "copy-1", copyBody);
    expect(copies.status, copies.text).toBe(201);
    expectReplay(copies, await w.post("maker", `resources/${flow}/copies`, "copy-1", copyBody));
    const copyId = (copies.json as { copies: { copyId: string }[] }).copies[0]!.copyId;

    const made = await w.post("bob", `/api/copies/${copyId}/instantiate`, "inst-1");
    expect(made.status, made.text).toBe(201);
    const madeAgain = await w.post("bob", `/api/copies/${copyId}/instantiate`, "inst-1");
    expectReplay(made, madeAgain);
    expect(madeAgain.headers.get("location")).toBe(made.headers.get("location"));

    const audit = await w.post("admin", "audits", "audit-1");
    expect(audit.status, audit.text).toBe(202);
    const auditAgain = await w.post("admin", "audits", "audit-1");
    expectReplay(audit, auditAgain);
    expect(auditAgain.headers.get("location")).toBe(audit.headers.get("location"));
    // Without a key, a second audit is a new one.
    const fresh = await w.post("admin", "audits", undefined);
    expect(fresh.json).not.toEqual(audit.json);

    const reassign = { fromUserId: w.maker, toUserId: w.id("heir") };
    const moved = await w.post("admin", "reassignments", "re-1", reassign);
    expect(moved.status, moved.text).toBe(200);
    expectReplay(moved, await w.post("admin", "reassignments", "re-1", reassign));

    const offboard = { userId: bob, successorId: w.id("heir") };
    const off = await w.post("admin", "offboardings", "off-1", offboard);
    expect(off.status, off.text).toBe(200);
    expectReplay(off, await w.post("admin", "offboardings", "off-1", offboard));
  });
});
