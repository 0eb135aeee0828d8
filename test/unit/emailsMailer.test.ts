import { describe, expect, it } from "vitest";
import type { EmailJob } from "../../shared/model/emailJobs.js";
import { EmailSendError, type EmailSender, type OutgoingEmail } from "../../shared/ports/email.js";
import { verifyInvitationToken } from "../../shared/invitations/token.js";
import { putEnvironment, putMembership, putUser } from "../../shared/usecases/directory.js";
import { claimTtlMs } from "../../shared/usecases/email/delivery.js";
import { emailOperationId, type MailerDeps } from "../../shared/usecases/email/handler.js";
import { handleEmailMessage } from "../../shared/usecases/email/mailer.js";
import { putResource } from "../../shared/usecases/resources.js";
import { resendInvitation } from "../../shared/usecases/invitations.js";
import { revoke, share } from "../../shared/usecases/sharing.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import { memoryCaps } from "../support/memoryCaps.js";

// The mailer's control flow on the in-memory store (the same repository contract as Azurite), with
// an EmailSender that records what it was asked to send and fails when told to.

const admin: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
const as = (id: string): Caller => ({ principalId: id, appRoles: [] });
const invitations = {
  signingKey: "s".repeat(40),
  publicBaseUrl: "https://api.example.test/",
  appBaseUrl: "https://app.example.test/app",
};

function fakeSender() {
  const attempts: OutgoingEmail[] = [];
  const delivered: OutgoingEmail[] = [];
  const failures: EmailSendError[] = [];
  const sender: EmailSender = {
    async send(email) {
      attempts.push(email);
      const failure = failures.shift();
      if (failure) throw failure;
      delivered.push(email);
      return { messageId: email.operationId };
    },
  };
  return { sender, attempts, delivered, failNext: (...errors: EmailSendError[]) => failures.push(...errors) };
}

async function world(options: { sensitive?: boolean } = {}) {
  const m = memoryCaps();
  const c = m.caps;
  await putEnvironment(c, admin, {
    envId: "e1",
    displayName: "Contoso",
    isDefault: false,
    sensitive: options.sensitive ?? false,
    expectedOwnerGroupIds: [],
    sovereignCloud: false,
  });
  const people = [
    ["maker", "Megan Maker", ["EnvironmentMaker"], true],
    ["bob", "Bob Viewer", ["BasicUser"], true],
    ["ada", "Ada Admin", ["SystemAdministrator"], true],
    ["old", "Old Admin", ["SystemAdministrator"], false],
  ] as const;
  for (const [id, name, roles, enabled] of people) {
    await putUser(c, admin, {
      userId: id,
      email: `${id}@contoso.test`,
      displayName: name,
      userType: "member",
      enabled,
      license: "paid",
    });
    await putMembership(c, admin, { envId: "e1", userId: id, securityRoles: [...roles] });
  }
  await putResource(
    c,
    as("maker"),
    "e1",
    "p1",
    { kind: "processMining", displayName: "Invoices", creatorId: "maker", analyticsReady: true },
    undefined,
  );
  const mail = fakeSender();
  let now = new Date();
  const deps: MailerDeps = { ...c, clock: () => now, sender: mail.sender, invitations };
  const shareWith = async (role: "viewer" | "coOwner", message?: string) => {
    const before = m.sent.length;
    await share(c, as("maker"), "e1", "p1", {
      role,
      principals: [{ type: "user", id: "bob" }],
      sendInvitation: true,
      ...(message ? { message } : {}),
    });
    return m.sent.slice(before);
  };
  const invitation = async (id: string) => (await c.repo.getInvitation("e1", "p1", id))!.invitation;
  return { ...m, c, deps, mail, shareWith, invitation, setNow: (d: Date) => void (now = d) };
}

const invitationJob = (jobs: EmailJob[]) => {
  const job = jobs.find((j) => j.kind === "invitation");
  if (job?.kind !== "invitation") throw new Error("no invitation job");
  return job;
};
const first = { messageId: "m1", dequeueCount: 1 };

describe("the mailer", () => {
  it("sends an invitation once, with a link naming it, and marks it sent", async () => {
    const w = await world();
    const job = invitationJob(await w.shareWith("viewer", "Have a look"));
    const outcome = await handleEmailMessage(w.deps, job, first);
    expect(outcome.result).toBe("sent");
    expect(w.mail.delivered).toHaveLength(1);
    const email = w.mail.delivered[0]!;
    expect(email.to).toEqual([{ address: "bob@contoso.test", displayName: "Bob Viewer" }]);
    expect(email.operationId).toBe(emailOperationId(`invitation|${job.invitationId}|${job.nonce}`));
    expect(email.operationId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(email.plainText).toContain("Have a look");
    const token = /https:\/\/api\.example\.test\/api\/invitations\/([A-Za-z0-9_.-]+)/.exec(email.plainText)?.[1];
    const checked = await verifyInvitationToken(invitations.signingKey, token!);
    expect(checked).toMatchObject({
      ok: true,
      claims: {
        envId: "e1",
        resourceId: "p1",
        invitationId: job.invitationId,
        nonce: job.nonce,
        principal: { type: "user", id: "bob" },
      },
    });
    const inv = await w.invitation(job.invitationId);
    expect(inv.status).toBe("sent");
    expect(inv.sentAt).toBeDefined();
  });

  it("drops a duplicate job, whether redelivered or a second message, without calling the service", async () => {
    const w = await world();
    const job = invitationJob(await w.shareWith("viewer"));
    await handleEmailMessage(w.deps, job, first);
    expect((await handleEmailMessage(w.deps, job, { messageId: "m1", dequeueCount: 2 })).result).toBe("skipped");
    expect((await handleEmailMessage(w.deps, JSON.stringify(job), { messageId: "m2", dequeueCount: 1 })).result).toBe(
      "skipped",
    );
    expect(w.mail.attempts).toHaveLength(1);
  });

  it("sends once when two messages for one email are handled at the same time", async () => {
    const w = await world();
    const job = invitationJob(await w.shareWith("viewer"));
    const outcomes = await Promise.all(
      ["a", "b", "c"].map((id) => handleEmailMessage(w.deps, job, { messageId: id, dequeueCount: 1 })),
    );
    expect(outcomes.map((o) => o.result).sort()).toEqual(["sent", "skipped", "skipped"]);
    expect(w.mail.attempts).toHaveLength(1);
  });

  it("retries transient failures with the same operation id, and marks the invitation failed on the last dequeue", async () => {
    const w = await world();
    const job = invitationJob(await w.shareWith("viewer"));
    w.mail.failNext(
      ...Array.from({ length: 5 }, () => new EmailSendError("transient", "ACS answered 500", { status: 500 })),
    );
    for (let dequeueCount = 1; dequeueCount <= 4; dequeueCount++) {
      await expect(handleEmailMessage(w.deps, job, { messageId: "m1", dequeueCount })).rejects.toThrow(
        "ACS answered 500",
      );
      expect((await w.invitation(job.invitationId)).status).toBe("queued");
    }
    await expect(handleEmailMessage(w.deps, job, { messageId: "m1", dequeueCount: 5 })).rejects.toThrow(
      "ACS answered 500",
    );
    const inv = await w.invitation(job.invitationId);
    expect(inv.status).toBe("failed");
    expect(inv.failedReason).toContain("gave up after 5 attempts");
    expect(new Set(w.mail.attempts.map((a) => a.operationId)).size).toBe(1);
    // A late duplicate doesn't try again.
    expect((await handleEmailMessage(w.deps, job, { messageId: "m9", dequeueCount: 1 })).result).toBe("skipped");
    expect(w.mail.attempts).toHaveLength(5);
  });

  it("gets through after transient failures, once", async () => {
    const w = await world();
    const job = invitationJob(await w.shareWith("viewer"));
    w.mail.failNext(new EmailSendError("transient", "429"), new EmailSendError("transient", "timeout"));
    await expect(handleEmailMessage(w.deps, job, { messageId: "m1", dequeueCount: 1 })).rejects.toThrow();
    // A duplicate message arriving meanwhile leaves the email to the message that claimed it.
    expect((await handleEmailMessage(w.deps, job, { messageId: "m2", dequeueCount: 1 })).result).toBe("skipped");
    await expect(handleEmailMessage(w.deps, job, { messageId: "m1", dequeueCount: 2 })).rejects.toThrow();
    expect((await handleEmailMessage(w.deps, job, { messageId: "m1", dequeueCount: 3 })).result).toBe("sent");
    expect(w.mail.delivered).toHaveLength(1);
    expect((await w.invitation(job.invitationId)).status).toBe("sent");
  });

  it("takes over a claim left by a message that is gone, once the claim is stale", async () => {
    const w = await world();
    const job = invitationJob(await w.shareWith("viewer"));
    w.mail.failNext(new EmailSendError("transient", "500"));
    await expect(handleEmailMessage(w.deps, job, { messageId: "gone", dequeueCount: 1 })).rejects.toThrow();
    w.setNow(new Date(Date.now() + claimTtlMs + 1000));
    expect((await handleEmailMessage(w.deps, job, { messageId: "m2", dequeueCount: 1 })).result).toBe("sent");
  });

  it("marks a permanent failure failed without throwing", async () => {
    const w = await world();
    const job = invitationJob(await w.shareWith("viewer"));
    w.mail.failNext(new EmailSendError("permanent", "ACS answered 400", { status: 400 }));
    expect((await handleEmailMessage(w.deps, job, first)).result).toBe("failed");
    expect(await w.invitation(job.invitationId)).toMatchObject({ status: "failed", failedReason: "ACS answered 400" });
    expect((await handleEmailMessage(w.deps, job, { messageId: "m1", dequeueCount: 2 })).result).toBe("skipped");
    expect(w.mail.attempts).toHaveLength(1);
  });

  it("brings the invitation in line when a crash came between the send and marking it sent", async () => {
    const w = await world();
    const job = invitationJob(await w.shareWith("viewer"));
    await handleEmailMessage(w.deps, job, first);
    const found = (await w.c.repo.getInvitation("e1", "p1", job.invitationId))!;
    await w.c.repo.replaceInvitation("e1", "p1", { ...found.invitation, status: "queued" }, found.etag);
    expect((await handleEmailMessage(w.deps, job, { messageId: "m1", dequeueCount: 2 })).result).toBe("skipped");
    expect((await w.invitation(job.invitationId)).status).toBe("sent");
    expect(w.mail.attempts).toHaveLength(1);
  });

  it("skips a job superseded by a resend and sends the new one with a new operation id", async () => {
    const w = await world();
    const job = invitationJob(await w.shareWith("viewer"));
    const before = w.sent.length;
    await resendInvitation({ ...w.c, invitations }, as("maker"), "e1", "p1", job.invitationId);
    const resent = invitationJob(w.sent.slice(before));
    expect(resent.nonce).not.toBe(job.nonce);
    expect((await handleEmailMessage(w.deps, job, first)).result).toBe("skipped");
    expect((await handleEmailMessage(w.deps, resent, { messageId: "m2", dequeueCount: 1 })).result).toBe("sent");
    expect(w.mail.delivered.map((e) => e.operationId)).toEqual([
      emailOperationId(`invitation|${job.invitationId}|${resent.nonce}`),
    ]);
  });

  it("sends nothing for a revoked grant, and marks the invitation revoked when the grant vanished without it", async () => {
    const w = await world();
    const job = invitationJob(await w.shareWith("viewer"));
    await revoke(w.c, as("maker"), "e1", "p1", { type: "user", id: "bob" }, "viewer");
    expect((await handleEmailMessage(w.deps, job, first)).result).toBe("skipped");

    const job2 = invitationJob(await w.shareWith("viewer"));
    const state = (await w.c.repo.resourceState("e1", "p1"))!;
    await w.c.repo.commit({
      etag: state.etag,
      resource: state.resource,
      deleteGrants: [{ principal: { type: "user", id: "bob" }, role: "viewer" }],
    });
    expect((await handleEmailMessage(w.deps, job2, first)).result).toBe("skipped");
    expect((await w.invitation(job2.invitationId)).status).toBe("revoked");
    expect(w.mail.attempts).toHaveLength(0);
  });

  it("drops messages that are not email jobs, and keeps jobs of kinds without a handler yet", async () => {
    const w = await world();
    for (const bad of ["not json", "{}", 42, null, { kind: "invitation", envId: "../x" }, { kind: "nope" }]) {
      expect((await handleEmailMessage(w.deps, bad, first)).result).toBe("dropped");
    }
    // Every kind has a handler now; an empty table stands for a kind that has none yet.
    await expect(handleEmailMessage(w.deps, { kind: "copy", envId: "e1", copyId: "c1" }, first, {})).rejects.toThrow(
      /no mailer handler/,
    );
    expect(w.mail.attempts).toHaveLength(0);
  });

  it("alerts the enabled admins of a sensitive environment once when a co-owner is added", async () => {
    const w = await world({ sensitive: true });
    const jobs = await w.shareWith("coOwner");
    const alert = jobs.find((j) => j.kind === "ownerAlert");
    expect(alert).toBeDefined();
    expect((await handleEmailMessage(w.deps, alert, first)).result).toBe("sent");
    expect((await handleEmailMessage(w.deps, alert, { messageId: "m2", dequeueCount: 1 })).result).toBe("skipped");
    expect(w.mail.delivered).toHaveLength(1);
    const email = w.mail.delivered[0]!;
    expect(email.to).toEqual([{ address: "ada@contoso.test", displayName: "Ada Admin" }]);
    expect(email.subject).toContain("Bob Viewer (bob@contoso.test) was made a co-owner");
    expect(email.plainText).toContain("Megan Maker made");
    expect(email.plainText).toContain("https://app.example.test/app/environments/e1/resources/p1/sharing");
  });

  it("keeps its record per environment and operation id", async () => {
    const w = await world();
    const job = invitationJob(await w.shareWith("viewer"));
    await handleEmailMessage(w.deps, job, first);
    const record = await w.c.emailRecords.get("e1", emailOperationId(`invitation|${job.invitationId}|${job.nonce}`));
    expect(record?.record).toMatchObject({ state: "sent", kind: "invitation", claimedBy: "m1" });
  });
});
