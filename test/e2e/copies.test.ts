import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../support/stack.js";
import { waitForSubject } from "../support/mail.js";
import { expectStatus, newWorld, uid } from "../support/world.js";

interface CopiesBody {
  copies: { copyId: string; recipientId: string }[];
}
interface FlowView {
  resource: {
    envId: string;
    resourceId: string;
    ownerId: string;
    creatorId: string;
    connections?: unknown[];
    fromCopyId?: string;
  };
  roles: string[];
  allowedActions: string[];
}

describe("send a copy of a cloud flow, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  async function world() {
    const w = await newWorld(stack);
    const maker = await w.user("maker");
    const bob = await w.user("bob");
    const basic = await w.user("basic", { roles: ["BasicUser"] });
    const runner = await w.user("runner", { roles: ["BasicUser"] });
    const cheap = await w.user("cheap", { license: "free" });
    const env = w.envId;
    const flow = `/api/environments/${env}/resources/${uid("flow")}`;
    await expectStatus(stack, 201, "PUT", flow, {
      token: await w.token("maker"),
      body: {
        kind: "cloudFlow",
        displayName: "Approve orders",
        description: "Routes purchase orders",
        creatorId: maker,
        solutionAware: true,
        triggerKind: "instant",
        connections: [{ id: "c1", connector: "Office 365 Outlook", ownerId: maker, usage: "embedded" }],
      },
    });
    await expectStatus(stack, 201, "POST", `${flow}/shares`, {
      token: await w.token("maker"),
      body: { role: "runOnly", principals: [{ type: "user", id: runner }], sendInvitation: false },
    });
    await expectStatus(stack, 201, "POST", `${flow}/shares`, {
      token: await w.token("maker"),
      body: { role: "owner", principals: [{ type: "user", id: cheap }], sendInvitation: false },
    });
    return { ...w, maker, bob, basic, runner, cheap, flow };
  }

  it("sends one template per recipient, emails each, and the recipient makes their own flow from it", async () => {
    const w = await world();
    const sent = await expectStatus(stack, 201, "POST", `${w.flow}/copies`, {
      token: await w.token("maker"),
      body: { recipientIds: [w.bob, w.basic], displayName: "My approvals" },
    });
    const { copies } = sent.json as CopiesBody;
    expect(copies.map((c) => c.recipientId)).toEqual([w.bob, w.basic]);
    const bobCopy = copies[0]!.copyId;

    const mail = await waitForSubject(stack, w.email("bob"), /sent you a copy/);
    expect(mail.subject).toContain(`${w.person("maker").displayName} sent you a copy of the cloud flow "My approvals"`);
    expect(mail.plainText).toContain(`${stack.baseUrl}/api/copies/${bobCopy}`);
    await waitForSubject(stack, w.email("basic"), /sent you a copy/);

    const template = await expectStatus(stack, 200, "GET", `/api/copies/${bobCopy}`, { token: await w.token("bob") });
    expect(template.json).toMatchObject({
      copyId: bobCopy,
      envId: w.envId,
      displayName: "My approvals",
      description: "Routes purchase orders",
      connectors: ["Office 365 Outlook"],
      sentBy: w.maker,
    });
    await expectStatus(stack, 404, "GET", `/api/copies/${bobCopy}`, { token: await w.token("maker") });
    await expectStatus(stack, 404, "GET", `/api/copies/${bobCopy}`, { token: w.adminToken });
    await expectStatus(stack, 401, "GET", `/api/copies/${bobCopy}`);

    const made = await expectStatus(stack, 201, "POST", `/api/copies/${bobCopy}/instantiate`, {
      token: await w.token("bob"),
    });
    const flow = made.json as FlowView;
    expect(flow.resource).toMatchObject({
      envId: w.envId,
      ownerId: w.bob,
      creatorId: w.bob,
      connections: [],
      fromCopyId: bobCopy,
    });
    expect(flow.roles).toEqual(["owner"]);
    expect(made.headers.get("location")).toBe(`/api/environments/${w.envId}/resources/${flow.resource.resourceId}`);
    const again = await expectStatus(stack, 200, "POST", `/api/copies/${bobCopy}/instantiate`, {
      token: await w.token("bob"),
    });
    expect((again.json as FlowView).resource.resourceId).toBe(flow.resource.resourceId);

    // The sender can neither see nor change the recipient's flow; the recipient gets nothing of the sender's.
    const theirs = `/api/environments/${w.envId}/resources/${flow.resource.resourceId}`;
    await expectStatus(stack, 404, "GET", theirs, { token: await w.token("maker") });
    await expectStatus(stack, 404, "PUT", theirs, {
      token: await w.token("maker"),
      body: { kind: "cloudFlow", displayName: "Mine now", creatorId: w.bob },
    });
    await expectStatus(stack, 404, "GET", w.flow, { token: await w.token("bob") });
    const listed = await expectStatus(stack, 200, "GET", `/api/environments/${w.envId}/principals/${w.bob}/resources`, {
      token: await w.token("bob"),
    });
    expect((listed.json as { resources: { resourceId: string }[] }).resources.map((r) => r.resourceId)).toEqual([
      flow.resource.resourceId,
    ]);

    // A copy can't be revoked: there is no such route, and it outlives the source flow.
    expect((await stack.api("DELETE", `/api/copies/${bobCopy}`, { token: await w.token("maker") })).status).toBe(405);
    await expectStatus(stack, 204, "DELETE", w.flow, { token: await w.token("maker") });
    await expectStatus(stack, 200, "GET", `/api/copies/${copies[1]!.copyId}`, { token: await w.token("basic") });

    // A recipient without EnvironmentMaker is told what's missing.
    const refused = await expectStatus(stack, 422, "POST", `/api/copies/${copies[1]!.copyId}/instantiate`, {
      token: await w.token("basic"),
    });
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    expect(refused.json).toMatchObject({ status: 422, detail: expect.stringMatching(/EnvironmentMaker/) });
  });

  it("is refused for other kinds, run-only users, free licenses and unknown recipients", async () => {
    const w = await world();
    const process = `/api/environments/${w.envId}/resources/${uid("process")}`;
    await expectStatus(stack, 201, "PUT", process, {
      token: await w.token("maker"),
      body: { kind: "processMining", displayName: "Invoices", creatorId: w.maker },
    });
    await expectStatus(stack, 422, "POST", `${process}/copies`, {
      token: await w.token("maker"),
      body: { recipientIds: [w.bob] },
    });
    const runOnly = await expectStatus(stack, 403, "POST", `${w.flow}/copies`, {
      token: await w.token("runner"),
      body: { recipientIds: [w.bob] },
    });
    expect(runOnly.json).toMatchObject({ detail: expect.stringMatching(/cloudFlow\.sendCopy is not allowed/) });
    await expectStatus(stack, 422, "POST", `${w.flow}/copies`, {
      token: await w.token("cheap"),
      body: { recipientIds: [w.bob] },
    });
    await expectStatus(stack, 404, "POST", `${w.flow}/copies`, {
      token: await w.token("bob"),
      body: { recipientIds: [w.basic] },
    });
    const unknown = await expectStatus(stack, 400, "POST", `${w.flow}/copies`, {
      token: await w.token("maker"),
      body: { recipientIds: [w.bob, "nobody-here"] },
    });
    expect(unknown.json).toMatchObject({ errors: [{ field: "body.recipientIds[1]" }] });
    const bad = await expectStatus(stack, 400, "POST", `${w.flow}/copies`, {
      token: await w.token("maker"),
      body: { recipientIds: [], extra: 1 },
    });
    expect((bad.json as { errors: { field: string }[] }).errors.map((e) => e.field).sort()).toEqual([
      "body",
      "body.recipientIds",
    ]);
    await expectStatus(stack, 404, "POST", `/api/copies/nope/instantiate`, { token: await w.token("bob") });
  });
});
