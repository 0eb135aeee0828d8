import { describe, expect, it } from "vitest";
import { signClaimToken, verifyClaimToken, type ClaimTokenClaims } from "../../shared/claims/token.js";
import { signInvitationToken } from "../../shared/invitations/token.js";
import type { Grant } from "../../shared/model/records.js";
import { ClaimRows } from "../../shared/store/claimRows.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import {
  acceptClaim,
  candidateOrder,
  escalateDueClaims,
  openClaim,
  pickCandidates,
  startClaimIfNone,
  type ClaimDeps,
} from "../../shared/usecases/claims.js";
import { putEnvironment } from "../../shared/usecases/directory.js";
import { offboard } from "../../shared/usecases/offboarding.js";
import { putResource } from "../../shared/usecases/resources.js";
import { share, sharedWith } from "../../shared/usecases/sharing.js";
import { requestAudit } from "../../shared/usecases/audits/request.js";
import { sweepOutbox } from "../../shared/usecases/relay.js";
import { handleEmailMessage } from "../../shared/usecases/email/mailer.js";
import type { OutgoingEmail } from "../../shared/ports/email.js";
import { cloudEventOf } from "../../shared/webhooks/events.js";
import { memoryCaps, seedDirectory } from "../support/memoryCaps.js";

const at = (minute: number) => `2026-01-01T00:${String(minute).padStart(2, "0")}:00.000Z`;
const grant = (principalId: string, role: Grant["role"], minute: number, type: Grant["principalType"] = "user") =>
  ({ principalType: type, principalId, role, grantedBy: "x", grantedAt: at(minute) }) satisfies Grant;

describe("claim candidates", () => {
  it("are co-owners, contributors and a flow's other owners, most recently granted first, once each", () => {
    const grants = [
      grant("leaver", "owner", 0),
      grant("old", "coOwner", 1),
      grant("new", "contributor", 30),
      grant("both", "coOwner", 5),
      grant("both", "contributor", 20),
      grant("flowOwner", "owner", 10),
      grant("viewer", "viewer", 40),
      grant("runner", "runOnly", 41),
      grant("group", "coOwner", 42, "group"),
    ];
    expect(candidateOrder({ ownerId: "leaver" }, grants)).toEqual([
      { userId: "new", role: "contributor", grantedAt: at(30) },
      { userId: "both", role: "contributor", grantedAt: at(20) },
      { userId: "flowOwner", role: "owner", grantedAt: at(10) },
      { userId: "old", role: "coOwner", grantedAt: at(1) },
    ]);
  });

  it("are at most 10, skipping those who may not be offered one, and read no more than needed", async () => {
    const ordered = candidateOrder(
      { ownerId: "leaver" },
      Array.from({ length: 35 }, (_, i) => grant(`u${String(i).padStart(2, "0")}`, "coOwner", i)),
    );
    expect(ordered[0]?.userId).toBe("u34");
    const asked: string[] = [];
    // Every third user is disabled or a guest.
    const picked = await pickCandidates(ordered, async (id) => {
      asked.push(id);
      return Number(id.slice(1)) % 3 !== 0;
    });
    expect(picked.map((c) => c.userId)).toEqual(["u34", "u32", "u31", "u29", "u28", "u26", "u25", "u23", "u22", "u20"]);
    // Two batches of ten were enough for ten eligible users: the last 15 were never read.
    expect(asked).toHaveLength(20);
  });
});

describe("claim tokens", () => {
  const key = "c".repeat(40);
  const now = new Date("2026-03-01T10:00:00Z");
  const claims: ClaimTokenClaims = {
    envId: "env-1",
    resourceId: "t1",
    claimId: "claim-1",
    userId: "bob",
    expiresAt: new Date("2026-05-30T10:00:00Z"),
  };
  const payloadOf = (t: string) => JSON.parse(Buffer.from(t.split(".")[1]!, "base64url").toString()) as object;
  const withPayload = (t: string, p: object) => {
    const [h, , s] = t.split(".");
    return `${h}.${Buffer.from(JSON.stringify(p)).toString("base64url")}.${s}`;
  };

  it("round-trip, and expire", async () => {
    const token = await signClaimToken(key, claims, now);
    expect(await verifyClaimToken(key, token, now)).toEqual({ ok: true, claims });
    expect(await verifyClaimToken(key, token, claims.expiresAt)).toEqual({ ok: false, reason: "expired" });
  });

  it("refuse tampering (another candidate, another claim), another key, garbage and an invitation token", async () => {
    const token = await signClaimToken(key, claims, now);
    for (const change of [{ sub: "mallory" }, { clm: "claim-2" }, { res: "t2" }]) {
      const tampered = withPayload(token, { ...payloadOf(token), ...change });
      expect(await verifyClaimToken(key, tampered, now)).toEqual({ ok: false, reason: "invalid" });
    }
    expect(await verifyClaimToken("o".repeat(40), token, now)).toEqual({ ok: false, reason: "invalid" });
    expect(await verifyClaimToken(key, "not-a-token", now)).toEqual({ ok: false, reason: "invalid" });
    expect(await verifyClaimToken(key, `${token}x`.repeat(10), now)).toEqual({ ok: false, reason: "invalid" });
    // An expired forgery learns nothing more than "invalid".
    const forgedExpired = withPayload(token, { ...payloadOf(token), exp: 1 });
    expect(await verifyClaimToken(key, forgedExpired, now)).toEqual({ ok: false, reason: "invalid" });
    const invitation = await signInvitationToken(
      key,
      {
        envId: "env-1",
        resourceId: "t1",
        invitationId: "claim-1",
        principal: { type: "user", id: "bob" },
        nonce: "n0nce-abcdef",
        expiresAt: claims.expiresAt,
      },
      now,
    );
    expect(await verifyClaimToken(key, invitation, now)).toEqual({ ok: false, reason: "invalid" });
  });
});

describe("a claim on the in-memory store", () => {
  const app: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
  const as = (id: string): Caller => ({ principalId: id, appRoles: [] });
  const key = "k".repeat(40);

  async function ownerless(sensitive = false) {
    const m = memoryCaps();
    const c = m.caps;
    // A clock a second ahead at each reading, so grants made one after another have distinct times.
    let t = Date.now();
    c.clock = () => new Date((t += 1000));
    await seedDirectory(c, "e1", [
      ["admin", true, ["SystemAdministrator"]],
      ["leaver", true, ["EnvironmentMaker"]],
      ["ann", true, ["EnvironmentMaker"]],
      ["ben", true, ["EnvironmentMaker"]],
      ["basic", true, ["BasicUser"]],
    ]);
    await putEnvironment(c, app, {
      envId: "e1",
      displayName: "E1",
      isDefault: false,
      sensitive,
      expectedOwnerGroupIds: [],
      sovereignCloud: false,
      claimDays: 2,
    });
    await putResource(c, app, "e1", "t1", { kind: "taskMining", displayName: "T1", creatorId: "leaver" }, undefined);
    for (const [who, role] of [
      ["basic", "coOwner"],
      ["ann", "contributor"],
      ["ben", "contributor"],
    ] as const)
      await share(c, as("leaver"), "e1", "t1", {
        role,
        principals: [{ type: "user", id: who }],
        sendInvitation: false,
      });
    const result = await offboard(c, app, "e1", { userId: "leaver", dryRun: false });
    expect(result.ownerless.map((o) => o.resourceId)).toEqual(["t1"]);
    const claim = (await new ClaimRows(c.repo).get("e1", "t1"))!;
    const deps: ClaimDeps = {
      ...c,
      invitations: { signingKey: key, publicBaseUrl: "http://api.test", appBaseUrl: "http://app.test" },
    };
    const tokenOf = (userId: string) =>
      signClaimToken(key, {
        envId: "e1",
        resourceId: "t1",
        claimId: claim.claimId,
        userId,
        expiresAt: new Date(t + 86_400_000),
      });
    return { m, c, claim, deps, tokenOf };
  }

  it("starts with the offboarding, emails each candidate once, and lets exactly one of two racing candidates win", async () => {
    const { m, c, claim, deps, tokenOf } = await ownerless(true);
    expect(claim).toMatchObject({ status: "open", origin: "offboarding", vacantOwnerId: "leaver" });
    expect(claim.candidates.map((x) => x.userId)).toEqual(["ben", "ann", "basic"]);
    const jobs = m.sent.filter((j) => j.kind === "claim");
    expect(jobs.map((j) => (j.kind === "claim" ? j.userId : "")).sort()).toEqual(["ann", "basic", "ben"]);

    // The audit finds it ownerless but its claim is open: no second claim, no more emails.
    const env = (await c.repo.getEnvironment("e1"))!;
    expect(await startClaimIfNone(c, env, "t1")).toBeUndefined();
    expect(m.sent.filter((j) => j.kind === "claim")).toHaveLength(3);

    // A co-owner without a maker role is told why.
    const refused = await acceptClaim(deps, await tokenOf("basic"));
    expect(refused).toMatchObject({ ok: false, reason: "notEligible", why: expect.stringMatching(/hold BasicUser/) });

    const [a, b] = await Promise.all([
      acceptClaim(deps, await tokenOf("ann")),
      acceptClaim(deps, await tokenOf("ben")),
    ]);
    const wins = [a, b].filter((x) => x.ok);
    const losses = [a, b].filter((x) => !x.ok);
    expect(wins).toEqual([{ ok: true, location: "http://app.test/environments/e1/resources/t1" }]);
    const winner = a.ok ? "ann" : "ben";
    expect(losses).toEqual([{ ok: false, reason: "claimed", ownerName: winner, resourceName: "T1" }]);
    const shares = await sharedWith(c, app, "e1", "t1");
    expect(shares.ownerId).toBe(winner);
    expect(shares.grants.filter((g) => g.role === "owner").map((g) => g.principalId)).toEqual([winner]);
    expect(await new ClaimRows(c.repo).get("e1", "t1")).toMatchObject({ status: "claimed", claimedBy: winner });
    // The sensitive environment's admins are alerted of the new owner; the log says it was claimed.
    // (The co-owner share before the offboarding raised its own alert, for basic as coOwner.)
    expect(m.sent.filter((j) => j.kind === "ownerAlert" && j.role === "owner")).toEqual([
      expect.objectContaining({ resourceId: "t1", principal: { type: "user", id: winner } }),
    ]);
    const log = await c.repo.environmentChanges("e1", undefined, 50);
    const claimed = log.items.filter((e) => e.action === "owner.claimed");
    expect(claimed.map((e) => e.principal?.id)).toEqual([winner]);
    // Its webhook event is the owner change.
    expect(cloudEventOf("e1", claimed[0]!)).toMatchObject({ type: "sharing.owner.changed", subject: "resources/t1" });
    // Accepting again leads to it again; the page of the winner says so.
    expect(await acceptClaim(deps, await tokenOf(winner))).toMatchObject({ ok: true });
    expect(await openClaim(deps, await tokenOf(winner))).toMatchObject({ ok: true, page: { claimedByYou: true } });
  });

  it("escalates once when nobody claims it by the deadline, across two timer runs", async () => {
    const { m, c, claim } = await ownerless();
    const deadline = new Date(claim.deadline);
    expect(deadline.getTime() - new Date(claim.createdAt).getTime()).toBe(2 * 86_400_000);
    expect(await escalateDueClaims(c, { now: new Date(deadline.getTime() - 1000) })).toEqual({
      escalated: 0,
      dropped: 0,
    });
    expect(await escalateDueClaims(c, { now: deadline })).toEqual({ escalated: 1, dropped: 0 });
    expect(await escalateDueClaims(c, { now: new Date(deadline.getTime() + 3_600_000) })).toEqual({
      escalated: 0,
      dropped: 0,
    });
    expect(m.sent.filter((j) => j.kind === "claimEscalation")).toEqual([
      { kind: "claimEscalation", envId: "e1", resourceId: "t1", claimId: claim.claimId },
    ]);
  });

  it("drops the deadline of a claim taken in time, and refuses a link of a replaced claim", async () => {
    const { m, c, claim, deps, tokenOf } = await ownerless();
    const annToken = await tokenOf("ann");
    expect(await acceptClaim(deps, annToken)).toMatchObject({ ok: true });
    expect(await escalateDueClaims(c, { now: new Date(claim.deadline) })).toEqual({ escalated: 0, dropped: 1 });
    expect(m.sent.filter((j) => j.kind === "claimEscalation")).toEqual([]);
    // A forged or garbled token gets "invalid"; a token of another claim id "ended".
    expect(await openClaim(deps, "garbage")).toEqual({ ok: false, reason: "invalid" });
    const other = await signClaimToken(key, {
      envId: "e1",
      resourceId: "t1",
      claimId: "another",
      userId: "ann",
      expiresAt: new Date(Date.now() + 60_000),
    });
    expect(await openClaim(deps, other)).toEqual({ ok: false, reason: "ended" });
  });

  it("is started by the audit for an ownerless resource that has none, once however often the audit runs", async () => {
    const m = memoryCaps();
    const c = m.caps;
    await seedDirectory(c, "e1", [
      ["admin", true, ["SystemAdministrator"]],
      ["ann", true, ["EnvironmentMaker"]],
      ["off", false, ["EnvironmentMaker"]],
    ]);
    // Left ownerless before claims existed: the owner's place vacant, no claim row.
    const now = new Date().toISOString();
    await c.repo.commit({
      etag: "new",
      resource: {
        envId: "e1",
        resourceId: "old1",
        kind: "taskMining",
        displayName: "Old",
        ownerId: "gone",
        creatorId: "gone",
        createdAt: now,
        updatedAt: now,
      },
      putGrants: [
        { principalType: "user", principalId: "ann", role: "contributor", grantedBy: "gone", grantedAt: now },
        { principalType: "user", principalId: "off", role: "coOwner", grantedBy: "gone", grantedAt: now },
      ],
    });
    await requestAudit(c, app, "e1");
    const claim = await new ClaimRows(c.repo).get("e1", "old1");
    expect(claim).toMatchObject({ status: "open", origin: "audit", vacantOwnerId: "gone" });
    // The disabled co-owner is no candidate.
    expect(claim?.candidates.map((x) => x.userId)).toEqual(["ann"]);
    await requestAudit(c, app, "e1");
    expect((await new ClaimRows(c.repo).get("e1", "old1"))?.claimId).toBe(claim?.claimId);
    expect(m.sent.filter((j) => j.kind === "claim")).toEqual([
      { kind: "claim", envId: "e1", resourceId: "old1", claimId: claim?.claimId, userId: "ann" },
    ]);
  });

  it("mails each candidate a link bound to them, and the admins once though the timer crashed after queueing", async () => {
    const { m, c, claim, deps } = await ownerless();
    const delivered: OutgoingEmail[] = [];
    const mailer = {
      ...c,
      sender: {
        send: async (e: OutgoingEmail) => {
          delivered.push(e);
          return { messageId: e.operationId };
        },
      },
      invitations: deps.invitations,
    };
    let n = 0;
    const mail = async (kind: string) => {
      for (const job of m.sent.filter((j) => j.kind === kind))
        await handleEmailMessage(mailer, job, { messageId: `msg-${++n}`, dequeueCount: 1 });
    };
    await mail("claim");
    expect(delivered.map((e) => e.to[0]?.address).sort()).toEqual(["ann@x.test", "basic@x.test", "ben@x.test"]);
    for (const e of delivered) {
      const token = /\/api\/claims\/([^\s]+)/.exec(e.plainText)![1]!;
      const checked = await verifyClaimToken(key, decodeURIComponent(token));
      expect(checked).toMatchObject({
        ok: true,
        claims: { claimId: claim.claimId, userId: e.to[0]!.address.split("@")[0] },
      });
    }
    // The same jobs again (a relay repeated by the sweeper): nothing more goes out.
    await mail("claim");
    expect(delivered).toHaveLength(3);

    // The timer dies after queueing the job, before removing the deadline row; the next run queues it again.
    const rows = c.repo.rows;
    const realDelete = rows.delete.bind(rows);
    rows.delete = async () => {
      rows.delete = realDelete;
      throw new Error("injected crash");
    };
    await expect(escalateDueClaims(c, { now: new Date(claim.deadline) })).rejects.toThrow("injected crash");
    expect(await escalateDueClaims(c, { now: new Date(claim.deadline) })).toEqual({ escalated: 1, dropped: 0 });
    expect(m.sent.filter((j) => j.kind === "claimEscalation")).toHaveLength(2);
    await mail("claimEscalation");
    const escalations = delivered.filter((e) => /Nobody claimed/.test(e.subject));
    expect(escalations.map((e) => e.to.map((t) => t.address))).toEqual([["admin@x.test"]]);
    expect(escalations[0]!.plainText).toContain("3 of its co-owners and contributors were asked to claim it");
  });

  it("loses no candidate's email when the queue fails right after the claim's commit (the sweeper relays it, once)", async () => {
    const m = memoryCaps();
    const c = m.caps;
    await seedDirectory(c, "e1", [
      ["leaver", true, ["EnvironmentMaker"]],
      ["ann", true, ["EnvironmentMaker"]],
    ]);
    await putResource(c, app, "e1", "t1", { kind: "taskMining", displayName: "T1", creatorId: "leaver" }, undefined);
    await share(c, as("leaver"), "e1", "t1", {
      role: "contributor",
      principals: [{ type: "user", id: "ann" }],
      sendInvitation: false,
    });
    // The email queue is down right after the commit: the relay of the resource's outbox fails.
    const send = c.emailQueue.send.bind(c.emailQueue);
    c.emailQueue.send = async () => {
      throw new Error("queue down");
    };
    // The relay leaves what it couldn't do in the outbox for the sweeper; the answer is already right.
    const first = await offboard(c, app, "e1", { userId: "leaver", dryRun: false });
    expect(first.ownerless.map((o) => o.resourceId)).toEqual(["t1"]);
    const claim = await new ClaimRows(c.repo).get("e1", "t1");
    expect(claim).toMatchObject({ status: "open", candidates: [{ userId: "ann" }] });
    expect(m.sent).toEqual([]);
    // Back up: the sweeper relays what the commit left; posting the offboarding again starts no second claim.
    c.emailQueue.send = send;
    expect(await sweepOutbox(c)).toBeGreaterThanOrEqual(1);
    await offboard(c, app, "e1", { userId: "leaver", dryRun: false });
    await sweepOutbox(c);
    expect((await new ClaimRows(c.repo).get("e1", "t1"))?.claimId).toBe(claim?.claimId);
    expect(m.sent.filter((j) => j.kind === "claim")).toEqual([
      { kind: "claim", envId: "e1", resourceId: "t1", claimId: claim?.claimId, userId: "ann" },
    ]);
  });
});
