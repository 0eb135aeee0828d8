import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signInvitationToken } from "../../shared/invitations/token.js";
import { startStack, type Stack } from "../support/stack.js";
import { linkIn, mailTo, tokenOf, waitForMail } from "../support/mail.js";
import { invitationWorld } from "../support/world.js";

// Invitations end to end: the compiled app on the local host, Azurite and the mail sink, through HTTP.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const form = { "content-type": "application/x-www-form-urlencoded" };
const accept = (link: string) =>
  fetch(`${link}/accept`, { method: "POST", headers: form, body: "", redirect: "manual" });
const open = (link: string) => fetch(link, { redirect: "manual" });

function expectSafePage(r: Response, text: string) {
  expect(r.headers.get("content-type")).toBe("text/html; charset=utf-8");
  const csp = r.headers.get("content-security-policy") ?? "";
  expect(csp).toContain("default-src 'none'");
  expect(csp).not.toContain("unsafe-inline");
  expect(r.headers.get("referrer-policy")).toBe("no-referrer");
  expect(r.headers.get("cache-control")).toBe("no-store");
  expect(text).not.toMatch(/<script|\bat [\w.]+ \(|Error:/);
}

describe("invitations end to end", () => {
  it("emails one invitation with a link whose page names the resource, role and sharer; accepting redirects to the analytics, twice", async () => {
    const w = await invitationWorld(stack);
    const invitationId = await w.shareWithInvitee("viewer", "Please review the Q3 invoices.");
    const [mail] = await waitForMail(stack, w.invitee.email);
    expect(mail!.subject).toBe('Megan Maker shared the analytics of the process "Invoice processing" with you');
    expect(mail!.from).toBe("DoNotReply@sharing.test");
    expect(mail!.plainText).toContain("Please review the Q3 invoices.");
    await w.waitForInvitation(invitationId, "sent");

    const link = linkIn(stack, mail!);
    const page = await open(link);
    const html = await page.text();
    expect(page.status).toBe(200);
    expectSafePage(page, html);
    expect(html).toContain(
      "Megan Maker shared the process mining process <strong>Invoice processing</strong> with you as a viewer.",
    );
    expect(html).toContain(`<form method="post" action="/api/invitations/${tokenOf(link)}/accept">`);
    expect(page.headers.get("content-security-policy")).toContain(
      `form-action 'self' ${new URL(stack.sink.url).origin}`,
    );
    // Opening the page changes nothing.
    expect(await w.invitationStatus(invitationId)).toBe("sent");

    const analytics = `${stack.sink.url}/app/environments/${w.envId}/resources/${w.resourceId}/analytics`;
    for (let i = 0; i < 2; i++) {
      const r = await accept(link);
      expect(r.status).toBe(303);
      expect(r.headers.get("location")).toBe(analytics);
    }
    expect(await w.invitationStatus(invitationId)).toBe("accepted");
    const after = await (await open(link)).text();
    expect(after).toContain("You've accepted this invitation");
  });

  it("leads to the details while a process's analytics aren't ready, and to the resource's page for other kinds", async () => {
    const pending = await invitationWorld(stack, { analyticsReady: false });
    await pending.shareWithInvitee("coOwner");
    const [m1] = await waitForMail(stack, pending.invitee.email);
    expect(m1!.subject).toContain("invited you to co-own");
    expect((await accept(linkIn(stack, m1!))).headers.get("location")).toBe(
      `${stack.sink.url}/app/environments/${pending.envId}/resources/${pending.resourceId}/details`,
    );

    const task = await invitationWorld(stack, { kind: "taskMining" });
    await task.shareWithInvitee("contributor");
    const [m2] = await waitForMail(stack, task.invitee.email);
    expect(m2!.plainText).toContain("asks you to add recordings");
    expect((await accept(linkIn(stack, m2!))).headers.get("location")).toBe(
      `${stack.sink.url}/app/environments/${task.envId}/resources/${task.resourceId}`,
    );
  });

  it("sends exactly one email when the service fails twice and then recovers (the SDK's own retries, same operation id)", async () => {
    const w = await invitationWorld(stack);
    stack.sink.failNext(500, 2);
    const invitationId = await w.shareWithInvitee("viewer");
    const [mail] = await waitForMail(stack, w.invitee.email);
    expect(stack.sink.attempts(mail!.operationId)).toBe(3);
    await w.waitForInvitation(invitationId, "sent");
    expect(mailTo(stack, w.invitee.email)).toHaveLength(1);
  });

  it(
    "sends exactly one email through an outage longer than the SDK's retries (queue redelivery)",
    { timeout: 120_000 },
    async () => {
      const w = await invitationWorld(stack);
      // 4 attempts per dequeue (the SDK retries 3 times): dequeues 1 and 2 fail, the third gets through.
      stack.sink.failNext(500, 8);
      const invitationId = await w.shareWithInvitee("viewer");
      const [mail] = await waitForMail(stack, w.invitee.email, 1, 100_000);
      expect(stack.sink.attempts(mail!.operationId)).toBe(9);
      await w.waitForInvitation(invitationId, "sent");
      expect(mailTo(stack, w.invitee.email)).toHaveLength(1);
    },
  );

  it("shows the revoked page for a revoked grant's link, and accepting it changes nothing", async () => {
    const w = await invitationWorld(stack);
    const invitationId = await w.shareWithInvitee("viewer");
    const link = linkIn(stack, (await waitForMail(stack, w.invitee.email))[0]!);
    const revoked = await stack.api(
      "DELETE",
      `/api/environments/${w.envId}/resources/${w.resourceId}/shares/user/${w.invitee.id}/viewer`,
      { token: w.makerToken },
    );
    expect(revoked.status).toBe(200);
    for (const r of [await open(link), await accept(link)]) {
      const text = await r.text();
      expect(r.status).toBe(410);
      expectSafePage(r, text);
      expect(text).toContain("This invitation has been revoked");
    }
    expect(await w.invitationStatus(invitationId)).toBe("revoked");
  });

  it("refuses forged, tampered, garbled and expired links with a page that says which, changing nothing", async () => {
    const w = await invitationWorld(stack);
    const invitationId = await w.shareWithInvitee("viewer");
    const link = linkIn(stack, (await waitForMail(stack, w.invitee.email))[0]!);
    await w.waitForInvitation(invitationId, "sent");
    const [header, payload, signature] = tokenOf(link).split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
    const base = link.slice(0, link.lastIndexOf("/") + 1);

    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: w.maker.id })).toString("base64url")}.${signature}`;
    const forged = await signInvitationToken("a-key-that-is-not-the-apps-key-0123456789", {
      envId: w.envId,
      resourceId: w.resourceId,
      invitationId,
      principal: { type: "user", id: w.invitee.id },
      nonce: String(claims.n),
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "invitation+jwt" })).toString("base64url")}.${payload}.`;
    for (const token of [tampered, forged, none, "not-a-token", `${tokenOf(link).slice(0, -4)}AAAA`]) {
      for (const r of [await open(base + token), await accept(base + token)]) {
        const text = await r.text();
        expect(r.status, token).toBe(400);
        expectSafePage(r, text);
        expect(text).toContain("This invitation link is not valid");
      }
    }

    const expired = await new SignJWT({ env: w.envId, res: w.resourceId, inv: invitationId, pt: "user", n: claims.n })
      .setProtectedHeader({ alg: "HS256", typ: "invitation+jwt" })
      .setIssuer("urn:sharing:invitation")
      .setAudience("urn:sharing:invitation")
      .setSubject(w.invitee.id)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(stack.settings.INVITATION_SIGNING_KEY));
    const r = await accept(base + expired);
    expect(r.status).toBe(410);
    expect(await r.text()).toContain("This invitation has expired");
    expect(await w.invitationStatus(invitationId)).toBe("sent");
  });

  it("resends with a new link: the old one shows the revoked page, the new one accepts; only sharers may resend", async () => {
    const w = await invitationWorld(stack);
    const invitationId = await w.shareWithInvitee("viewer");
    const oldLink = linkIn(stack, (await waitForMail(stack, w.invitee.email))[0]!);
    const path = `/api/environments/${w.envId}/resources/${w.resourceId}/invitations/${invitationId}/resend`;

    const byInvitee = await stack.api("POST", path, { token: await stack.token(w.invitee.id) });
    expect([403, 404]).toContain(byInvitee.status);
    const resent = await stack.api("POST", path, { token: w.makerToken });
    expect(resent.status).toBe(200);
    expect(resent.json).toMatchObject({ invitation: { id: invitationId, status: "queued" } });

    const [newest] = await waitForMail(stack, w.invitee.email, 2);
    const newLink = linkIn(stack, newest!);
    expect(newLink).not.toBe(oldLink);
    const old = await accept(oldLink);
    expect(old.status).toBe(410);
    expect(await old.text()).toContain("has been revoked");
    expect((await accept(newLink)).status).toBe(303);
    expect(await w.invitationStatus(invitationId)).toBe("accepted");
    expect((await stack.api("POST", path, { token: w.makerToken })).status).toBe(409);
    const unknown = await stack.api(
      "POST",
      `/api/environments/${w.envId}/resources/${w.resourceId}/invitations/nope/resend`,
      { token: w.makerToken },
    );
    expect(unknown.status).toBe(404);
  });

  it("alerts the environment's admins when a co-owner is added in a sensitive environment, and only there", async () => {
    const sensitive = await invitationWorld(stack, { sensitive: true });
    await sensitive.shareWithInvitee("coOwner");
    const [alert] = await waitForMail(stack, sensitive.admin.email);
    expect(alert!.subject).toContain(`Gina Guest (${sensitive.invitee.email}) was made a co-owner`);
    expect(alert!.plainText).toContain("Megan Maker made Gina Guest");

    const ordinary = await invitationWorld(stack, { sensitive: false });
    await ordinary.shareWithInvitee("coOwner");
    await waitForMail(stack, ordinary.invitee.email);
    const viewerInSensitive = await invitationWorld(stack, { sensitive: true });
    await viewerInSensitive.shareWithInvitee("viewer");
    await waitForMail(stack, viewerInSensitive.invitee.email);
    expect(mailTo(stack, ordinary.admin.email)).toEqual([]);
    expect(mailTo(stack, viewerInSensitive.admin.email)).toEqual([]);
  });
});
