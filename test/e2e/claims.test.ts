import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SinkMessage } from "../../tools/mailSink.js";
import { signClaimToken } from "../../shared/claims/token.js";
import { ClaimRows } from "../../shared/store/claimRows.js";
import { escalateDueClaims } from "../../shared/usecases/claims.js";
import { mailTo, waitForMail, waitForSubject } from "../support/mail.js";
import { eventually } from "../support/poll.js";
import { startStack, type Stack } from "../support/stack.js";
import { stackCaps } from "../support/stackCaps.js";
import { expectStatus, finishedAudit, newWorld } from "../support/world.js";

const form = { "content-type": "application/x-www-form-urlencoded" };
const open = (link: string) => fetch(link, { redirect: "manual" });
const accept = (link: string) =>
  fetch(`${link}/accept`, { method: "POST", headers: form, body: "", redirect: "manual" });

/** The claim link in a claim email (plain text). */
function claimLink(stack: Stack, message: SinkMessage): string {
  const match = new RegExp(`${stack.baseUrl.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/api/claims/([A-Za-z0-9_.-]+)`).exec(
    message.plainText,
  );
  if (!match) throw new Error(`no claim link in: ${message.plainText}`);
  return match[0];
}

describe("ownership claims, through HTTP", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("offboarding leaves resources ownerless; candidates are emailed; of two racing, one wins and the other is told who; the audit drops it; the unclaimed one escalates once", async () => {
    const w = await newWorld(stack);
    await w.user("admin", { roles: ["SystemAdministrator"] });
    await w.user("leaver");
    await w.user("ann", { displayName: "Ann Claimer" });
    await w.user("ben", { displayName: "Ben Claimer" });
    await w.user("basic", { roles: ["BasicUser"] });
    await w.user("guest", { userType: "guest" });
    const env = w.envId;
    await expectStatus(stack, 200, "PUT", `/api/environments/${env}`, {
      token: w.adminToken,
      body: { displayName: `Env ${env}`, claimDays: 3, sensitive: true },
    });
    const tC = await w.resource("leaver", { kind: "taskMining", displayName: "Invoices" });
    for (const [who, role] of [
      ["guest", "contributor"],
      ["basic", "coOwner"],
      ["ann", "contributor"],
      ["ben", "contributor"],
    ] as const)
      expect((await w.share("leaver", tC, role, [{ type: "user", id: w.id(who) }])).status).toBe(201);
    // A second one nobody will claim: its only candidate can't own.
    const pX = await w.resource("leaver", { kind: "processMining", displayName: "Orphan" });
    expect((await w.share("leaver", pX, "coOwner", [{ type: "user", id: w.id("basic") }])).status).toBe(201);

    const off = await expectStatus(stack, 200, "POST", `/api/environments/${env}/offboardings`, {
      token: await w.token("admin"),
      body: { userId: w.id("leaver") },
    });
    expect((off.json as { ownerless: { resourceId: string }[] }).ownerless.map((o) => o.resourceId).sort()).toEqual(
      [tC, pX].sort(),
    );

    // Candidates (enabled, not guests) are emailed a link each: ann, ben, basic for tC; basic for pX.
    const [annMail] = await waitForMail(stack, w.email("ann"), 1);
    const [benMail] = await waitForMail(stack, w.email("ben"), 1);
    const basicMails = await waitForMail(stack, w.email("basic"), 2);
    expect(annMail!.subject).toMatch(/the task mining process "Invoices" has no owner: claim it/);
    const annLink = claimLink(stack, annMail!);
    const benLink = claimLink(stack, benMail!);
    const basicLink = claimLink(
      stack,
      basicMails.find((m) => m.subject.includes("Invoices"))!,
    );

    const page = await open(annLink);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('data-outcome="claim"');
    expect(html).toContain("Hello Ann Claimer,");
    expect(html).toContain(
      `<form method="post" action="/api/claims/${annLink.slice(annLink.lastIndexOf("/") + 1)}/accept">`,
    );

    // The audit lists both while unclaimed; it starts no second claim (the emails stay one each).
    const before = await finishedAudit(stack, env, w.adminToken);
    const ownerlessIds = (r: typeof before) =>
      r.findings
        .filter((f) => f.rule === "ownerlessResource")
        .map((f) => f.resourceId)
        .sort();
    expect(ownerlessIds(before)).toEqual([tC, pX].sort());

    // A co-owner without a maker role is told why; bad links get 4xx pages.
    const refused = await accept(basicLink);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toMatch(/You can&#39;t claim|You can't claim/);
    expect((await open(`${stack.baseUrl}/api/claims/garbage`)).status).toBe(400);
    const [h, p, s] = annLink.slice(annLink.lastIndexOf("/") + 1).split(".");
    const payload = JSON.parse(Buffer.from(p!, "base64url").toString()) as Record<string, unknown>;
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: w.id("basic") })).toString("base64url")}.${s}`;
    expect((await accept(`${stack.baseUrl}/api/claims/${tampered}`)).status).toBe(400);
    // Signed with the host's key but expired: 410, and the page says so.
    const expired = await signClaimToken(stack.settings.INVITATION_SIGNING_KEY!, {
      envId: env,
      resourceId: tC,
      claimId: String(payload.clm),
      userId: w.id("ann"),
      expiresAt: new Date(Date.now() - 1000),
    });
    const expiredPage = await open(`${stack.baseUrl}/api/claims/${expired}`);
    expect(expiredPage.status).toBe(410);
    expect(await expiredPage.text()).toContain("This claim link has expired");

    // The race: both accept at once; one is redirected to the product, the other is told who won.
    const [a, b] = await Promise.all([accept(annLink), accept(benLink)]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([303, 409]);
    const [winner, loser] = a.status === 303 ? [a, b] : [b, a];
    const winnerName = winner === a ? "Ann Claimer" : "Ben Claimer";
    const winnerId = winner === a ? w.id("ann") : w.id("ben");
    expect(winner.headers.get("location")).toBe(`${stack.settings.APP_BASE_URL}/environments/${env}/resources/${tC}`);
    const loserPage = await loser.text();
    expect(loserPage).toContain("Someone else claimed it first");
    expect(loserPage).toContain(`${winnerName} is now the owner of Invoices`);
    // The winner's link leads there again; the loser's page still says so.
    expect((await accept(winner === a ? annLink : benLink)).status).toBe(303);
    expect((await open(winner === a ? benLink : annLink)).status).toBe(409);

    const shares = (
      await expectStatus(stack, 200, "GET", `/api/environments/${env}/resources/${tC}/shares`, { token: w.adminToken })
    ).json as { ownerId: string; grants: { principalId: string; role: string }[] };
    expect(shares.ownerId).toBe(winnerId);
    expect(shares.grants.filter((g) => g.role === "owner").map((g) => g.principalId)).toEqual([winnerId]);
    const log = await expectStatus(stack, 200, "GET", `/api/environments/${env}/changes?resourceId=${tC}`, {
      token: w.adminToken,
    });
    expect(
      (log.json as { items: { action: string; actorId: string }[] }).items
        .filter((i) => i.action === "owner.claimed")
        .map((i) => i.actorId),
    ).toEqual([winnerId]);

    // A sensitive environment: the admins are alerted of the new owner, as on every path.
    const alert = await waitForSubject(
      stack,
      w.email("admin"),
      new RegExp(`${winnerName} \\(.*\\) was made an owner of the task mining process "Invoices"`),
    );
    expect(alert.plainText).toContain(`${winnerName} made ${winnerName}`);

    // Claimed resources leave the audit; the unclaimed one stays.
    expect(ownerlessIds(await finishedAudit(stack, env, w.adminToken))).toEqual([pX]);

    // Escalation: the real timer now finds nothing due; at the deadline (the timer's use case with
    // its clock moved on) the admins get one email for pX, none for the claimed tC, across two runs.
    const caps = stackCaps(stack);
    const claims = new ClaimRows(caps.repo);
    const pxClaim = (await claims.get(env, pX))!;
    expect(new Date(pxClaim.deadline).getTime() - new Date(pxClaim.createdAt).getTime()).toBe(3 * 86_400_000);
    await stack.runFunction("claimEscalation");
    const deadline = new Date(
      Math.max(new Date(pxClaim.deadline).getTime(), new Date((await claims.get(env, tC))!.deadline).getTime()),
    );
    const first = await escalateDueClaims(caps, { now: deadline });
    const second = await escalateDueClaims(caps, { now: new Date(deadline.getTime() + 60_000) });
    // pX's claim escalates; tC's deadline row, claimed, is dropped.
    expect(first).toEqual({ escalated: 1, dropped: 1 });
    expect(second).toEqual({ escalated: 0, dropped: 0 });
    const escalations = await eventually(
      "the escalation email",
      () => mailTo(stack, w.email("admin")).filter((m) => /Nobody claimed/.test(m.subject)),
      { until: (list) => list.length >= 1 },
    );
    expect(escalations.map((m) => m.subject)).toEqual([
      expect.stringMatching(/Nobody claimed the process mining process "Orphan": it still has no owner/),
    ]);
    // Candidates got exactly one email each all along.
    expect(mailTo(stack, w.email("ann"))).toHaveLength(1);
    expect(mailTo(stack, w.email("ben"))).toHaveLength(1);
    expect(mailTo(stack, w.email("guest"))).toHaveLength(0);
  });
});
