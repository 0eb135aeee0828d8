import { describe, expect, it } from "vitest";
import { judgeExpiry, capFor } from "../../shared/rules/expiry.js";
import { resourceFindings } from "../../shared/rules/audit.js";
import { expirySteps } from "../../shared/model/expiry.js";
import { putEnvironment, putGroup, putUser, putMembership } from "../../shared/usecases/directory.js";
import { putResource, principalResources } from "../../shared/usecases/resources.js";
import { setExpiry, share, sharedWith } from "../../shared/usecases/sharing.js";
import { check, effectiveAccess } from "../../shared/usecases/access.js";
import { runExpiries } from "../../shared/usecases/expiry.js";
import { handleEmailMessage } from "../../shared/usecases/email/mailer.js";
import type { MailerDeps } from "../../shared/usecases/email/handler.js";
import type { EmailSender, OutgoingEmail } from "../../shared/ports/email.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import type { EmailJob } from "../../shared/model/emailJobs.js";
import { memoryCaps } from "../support/memoryCaps.js";

const day = 86_400_000;
const t0 = Date.parse("2027-03-01T10:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();

describe("the expiry rules", () => {
  const now = new Date(t0);
  const member = { guest: false, permanentOwner: false };
  const guest = { guest: true, permanentOwner: false };
  const rows: [string, Parameters<typeof judgeExpiry>, number | "ok", RegExp?][] = [
    ["no cap, no expiry", [{}, member, undefined, now], "ok"],
    ["no cap, any future expiry", [{}, member, iso(t0 + 5000 * day), now], "ok"],
    ["in the past", [{}, member, iso(t0 - 1), now], 400, /future/],
    ["exactly now", [{}, member, iso(t0), now], 400, /future/],
    ["a cap and no expiry", [{ maxGrantDays: 30 }, member, undefined, now], 422, /maxGrantDays/],
    ["a cap and null", [{ maxGrantDays: 30 }, member, null, now], 422, /maxGrantDays/],
    ["within the cap", [{ maxGrantDays: 30 }, member, iso(t0 + 30 * day), now], "ok"],
    ["beyond the cap", [{ maxGrantDays: 30 }, member, iso(t0 + 30 * day + 1), now], 422, /maxGrantDays \(30\)/],
    [
      "a guest under the guest cap",
      [{ maxGrantDays: 90, guestMaxGrantDays: 7 }, guest, iso(t0 + 8 * day), now],
      422,
      /guestMaxGrantDays/,
    ],
    ["a guest, guest cap only, no expiry", [{ guestMaxGrantDays: 7 }, guest, undefined, now], 422, /guestMaxGrantDays/],
    ["a member when only guests are capped", [{ guestMaxGrantDays: 7 }, member, undefined, now], "ok"],
    [
      "a guest falls back on the general cap",
      [{ maxGrantDays: 10 }, guest, iso(t0 + 11 * day), now],
      422,
      /maxGrantDays/,
    ],
    [
      "a permanent owner, no expiry, under a cap",
      [{ maxGrantDays: 10 }, { guest: false, permanentOwner: true }, undefined, now],
      "ok",
    ],
    [
      "a permanent owner asked to expire",
      [{}, { guest: false, permanentOwner: true }, iso(t0 + day), now],
      422,
      /can't expire/,
    ],
  ];
  it.each(rows)("%s", (_what, args, expected, message) => {
    const v = judgeExpiry(...args);
    if (expected === "ok") expect(v).toEqual({ ok: true });
    else {
      expect(v.ok).toBe(false);
      expect(!v.ok && v.status).toBe(expected);
      expect(!v.ok && v.message).toMatch(message!);
    }
  });

  it("names the cap that applies", () => {
    expect(capFor({ maxGrantDays: 5, guestMaxGrantDays: 2 }, guest)).toEqual({ setting: "guestMaxGrantDays", days: 2 });
    expect(capFor({ maxGrantDays: 5, guestMaxGrantDays: 2 }, member)).toEqual({ setting: "maxGrantDays", days: 5 });
    expect(capFor({ maxGrantDays: 5 }, { guest: false, permanentOwner: true })).toBeUndefined();
  });

  it("schedules reminders only where the grant is longer than their lead", () => {
    const base = {
      envId: "e",
      resourceId: "r",
      principal: { type: "user" as const, id: "u" },
      role: "viewer" as const,
    };
    const steps = (days: number) =>
      expirySteps({ ...base, expiresAt: iso(t0 + days * day) }, new Date(t0)).map((r) => [r.step, r.dueAt]);
    expect(steps(30)).toEqual([
      ["remind14", iso(t0 + 16 * day)],
      ["remind1", iso(t0 + 29 * day)],
      ["expire", iso(t0 + 30 * day)],
    ]);
    expect(steps(10)).toEqual([
      ["remind1", iso(t0 + 9 * day)],
      ["expire", iso(t0 + 10 * day)],
    ]);
    expect(steps(0.5)).toEqual([["expire", iso(t0 + 0.5 * day)]]);
  });
});

const app: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
const as = (id: string): Caller => ({ principalId: id, appRoles: [] });

function fakeSender() {
  const delivered: OutgoingEmail[] = [];
  const sender: EmailSender = {
    async send(email) {
      delivered.push(email);
      return { messageId: email.operationId };
    },
  };
  return { sender, delivered };
}

/** An environment with an owner, a member and a guest, a process owned by `maker`, and a clock the test moves. */
async function world(env: { maxGrantDays?: number; guestMaxGrantDays?: number } = {}) {
  let now = t0;
  const clock = () => new Date(now);
  const m = memoryCaps(undefined, clock);
  const c = m.caps;
  await putEnvironment(c, app, {
    envId: "e1",
    displayName: "Contoso",
    isDefault: false,
    sensitive: false,
    expectedOwnerGroupIds: [],
    sovereignCloud: false,
    ...env,
  });
  for (const [id, userType, roles] of [
    ["maker", "member", ["EnvironmentMaker"]],
    ["bob", "member", ["BasicUser"]],
    ["gus", "guest", ["BasicUser"]],
  ] as const) {
    await putUser(c, app, {
      userId: id,
      email: `${id}@contoso.test`,
      displayName: id,
      userType,
      enabled: true,
      license: "paid",
    });
    await putMembership(c, app, { envId: "e1", userId: id, securityRoles: [...roles] });
  }
  await putResource(
    c,
    as("maker"),
    "e1",
    "p1",
    { kind: "processMining", displayName: "Invoices", creatorId: "maker" },
    undefined,
  );
  const mail = fakeSender();
  const mailer: MailerDeps = {
    ...c,
    sender: mail.sender,
    invitations: { signingKey: "s".repeat(40), publicBaseUrl: "https://api.test/", appBaseUrl: "https://app.test/" },
  };
  let message = 0;
  /** Delivers every queued expiry email job (each as its own queue message, as duplicates would be). */
  const deliver = async () => {
    const jobs = m.sent
      .splice(0)
      .filter((j): j is Extract<EmailJob, { kind: "grantExpiry" }> => j.kind === "grantExpiry");
    for (const j of jobs) await handleEmailMessage(mailer, j, { messageId: `m${++message}`, dequeueCount: 1 });
    return jobs;
  };
  const events = () =>
    m.webhooks.flatMap((w) =>
      w.message.kind === "event" ? [{ id: w.message.event.id, type: w.message.event.type }] : [],
    );
  const canView = async (who: string) =>
    (await check(c, app, "e1", [{ principalId: who, resourceId: "p1", action: "processMining.viewDetails" }]))[0]!
      .allowed;
  const listed = async (who: string) =>
    (await principalResources(c, app, "e1", who, undefined, undefined)).resources.map((r) => r.resourceId);
  const log = async () => (await c.repo.environmentChanges("e1", undefined, 100)).items;
  return {
    m,
    c,
    mail,
    deliver,
    events,
    canView,
    listed,
    log,
    at: (ms: number) => {
      now = ms;
    },
  };
}

describe("time-bound grants on the in-memory store", () => {
  it("are exact at the instant before any sweep, and the timer removes them as a revoke would, logged once", async () => {
    const w = await world();
    const expiresAt = iso(t0 + 20 * day);
    const r = await share(w.c, as("maker"), "e1", "p1", {
      role: "viewer",
      principals: [{ type: "user", id: "bob" }],
      sendInvitation: true,
      expiresAt,
    });
    expect(r.grants[0]!.expiresAt).toBe(expiresAt);
    expect(await w.canView("bob")).toBe(true);
    expect(await w.listed("bob")).toEqual(["p1"]);

    w.at(t0 + 20 * day - 1);
    expect(await w.canView("bob")).toBe(true);
    w.at(t0 + 20 * day);
    // No timer has run: the grant is still stored, and reads as absent.
    expect((await w.c.repo.grantRows("e1", "p1")).some((g) => g.principalId === "bob")).toBe(true);
    expect(await w.canView("bob")).toBe(false);
    expect((await effectiveAccess(w.c, app, "e1", "p1", "bob")).roles).toEqual([]);
    expect(await w.listed("bob")).toEqual([]);
    expect((await sharedWith(w.c, as("maker"), "e1", "p1")).grants.map((g) => g.principalId)).toEqual(["maker"]);

    w.m.webhooks.splice(0);
    await runExpiries(w.c);
    await runExpiries(w.c);
    expect((await w.c.repo.grantRows("e1", "p1")).map((g) => g.principalId)).toEqual(["maker"]);
    const expired = (await w.log()).filter((e) => e.action === "expire");
    expect(expired).toHaveLength(1);
    expect(expired[0]).toMatchObject({ actorId: "system", principal: { type: "user", id: "bob" }, role: "viewer" });
    expect(w.events().filter((e) => e.type === "sharing.grant.expired")).toHaveLength(1);
    // The invitation died with its grant; the owners got one note (the reminders were due before too).
    const shares = await sharedWith(w.c, as("maker"), "e1", "p1");
    expect(shares.invitations.map((i) => i.status)).toEqual(["revoked"]);
    await w.deliver();
    const notes = w.mail.delivered.filter((e) => /has expired/.test(e.subject));
    expect(notes.map((e) => e.to.map((t) => t.address))).toEqual([["maker@contoso.test"]]);
  });

  it("reminds 14 days and 1 day ahead, grantee and owners, once each across two runs and a crash mid-run", async () => {
    const w = await world();
    const end = t0 + 30 * day;
    await share(w.c, as("maker"), "e1", "p1", {
      role: "viewer",
      principals: [{ type: "user", id: "bob" }],
      sendInvitation: false,
      expiresAt: iso(end),
    });
    w.at(end - 14 * day - 1);
    await runExpiries(w.c);
    expect(await w.deliver()).toEqual([]);

    w.at(end - 14 * day);
    // A crash after the step committed and before its due row was removed: the next run does it again.
    const remove = w.c.repo.expiries.remove.bind(w.c.repo.expiries);
    let crashes = 1;
    w.c.repo.expiries.remove = async (pk, rk) => {
      if (crashes-- > 0) throw new Error("crash");
      return remove(pk, rk);
    };
    expect((await runExpiries(w.c)).failed).toBe(1);
    await runExpiries(w.c);
    await runExpiries(w.c);
    const jobs = await w.deliver();
    // Each queued twice (the crash), each emailed once.
    expect(jobs.length).toBe(4);
    const sent14 = w.mail.delivered.map((e) => [e.subject, e.to.map((t) => t.address)]);
    expect(sent14).toEqual([
      ['[Contoso] Your access to the process mining process "Invoices" expires in 14 days', ["bob@contoso.test"]],
      [
        '[Contoso] Access of bob (bob@contoso.test) to the process mining process "Invoices" expires in 14 days',
        ["maker@contoso.test"],
      ],
    ]);

    w.at(end - day);
    await runExpiries(w.c);
    await runExpiries(w.c);
    await w.deliver();
    expect(w.mail.delivered.filter((e) => /tomorrow/.test(e.subject))).toHaveLength(2);
    const expiring = (await w.log()).filter((e) => e.action === "expiring");
    expect(expiring).toHaveLength(2);
    expect(expiring.every((e) => e.actorId === "system")).toBe(true);
    const ids = w
      .events()
      .filter((e) => e.type === "sharing.grant.expiring")
      .map((e) => e.id);
    expect(new Set(ids).size).toBe(2);
    expect(await w.canView("bob")).toBe(true);
  });

  it("end a group's grant for its members at the instant, and the timer's fan-out removes their rows", async () => {
    const w = await world();
    await putGroup(w.c, app, {
      envId: "e1",
      groupId: "g1",
      displayName: "G1",
      kind: "securityGroup",
      memberIds: ["bob"],
    });
    await share(w.c, as("maker"), "e1", "p1", {
      role: "viewer",
      principals: [{ type: "group", id: "g1" }],
      sendInvitation: false,
      expiresAt: iso(t0 + 3 * day),
    });
    await w.m.drainFanout();
    expect(await w.canView("bob")).toBe(true);
    expect(await w.listed("bob")).toEqual(["p1"]);
    const bobRows = async () =>
      (await w.c.repo.rows.queryPage(w.c.repo.tables.principals, "user|bob", [{ prefix: "env|e1|res|" }])).rows.length;
    expect(await bobRows()).toBe(1);
    w.at(t0 + 3 * day);
    expect(await w.canView("bob")).toBe(false);
    expect(await w.listed("bob")).toEqual([]);
    // The row through the group is still stored until the timer's removal fans out.
    expect(await bobRows()).toBe(1);
    await runExpiries(w.c);
    await w.m.drainFanout();
    expect(await bobRows()).toBe(0);
    expect((await w.log()).filter((e) => e.action === "expire").map((e) => e.principal)).toEqual([
      { type: "group", id: "g1" },
    ]);
  });

  it("skips reminders longer than the grant, and a changed expiry's old steps do nothing", async () => {
    const w = await world();
    await share(w.c, as("maker"), "e1", "p1", {
      role: "viewer",
      principals: [{ type: "user", id: "bob" }],
      sendInvitation: false,
      expiresAt: iso(t0 + 10 * day),
    });
    // Extended: the old instant's rows stay and are stale; the new ones remind and remove.
    await setExpiry(w.c, as("maker"), "e1", "p1", { type: "user", id: "bob" }, "viewer", iso(t0 + 40 * day));
    w.at(t0 + 10 * day);
    await runExpiries(w.c);
    await w.deliver();
    expect(w.mail.delivered).toEqual([]);
    expect(await w.canView("bob")).toBe(true);
    expect((await w.log()).filter((e) => e.action === "expire")).toEqual([]);
    w.at(t0 + 26 * day);
    await runExpiries(w.c);
    await w.deliver();
    expect(w.mail.delivered.map((e) => e.subject)).toHaveLength(2);
    w.at(t0 + 40 * day);
    await runExpiries(w.c);
    expect(await w.canView("bob")).toBe(false);
    expect((await w.log()).filter((e) => e.action === "expire")).toHaveLength(1);
  });

  it("applies the caps, refuses an expiring owner grant of the creator, and PATCH shortens and removes", async () => {
    const w = await world({ maxGrantDays: 30, guestMaxGrantDays: 7 });
    const bob = { type: "user" as const, id: "bob" };
    await expect(
      share(w.c, as("maker"), "e1", "p1", { role: "viewer", principals: [bob], sendInvitation: false }),
    ).rejects.toMatchObject({ code: "ruleViolation", message: expect.stringMatching(/maxGrantDays/) });
    await expect(
      share(w.c, as("maker"), "e1", "p1", {
        role: "viewer",
        principals: [{ type: "user", id: "gus" }],
        sendInvitation: false,
        expiresAt: iso(t0 + 8 * day),
      }),
    ).rejects.toMatchObject({ code: "ruleViolation", message: expect.stringMatching(/guestMaxGrantDays/) });
    await expect(
      share(w.c, as("maker"), "e1", "p1", {
        role: "viewer",
        principals: [bob],
        sendInvitation: false,
        expiresAt: iso(t0 - day),
      }),
    ).rejects.toMatchObject({
      code: "invalidInput",
      errors: [{ field: "body.expiresAt", message: "must be in the future" }],
    });
    await share(w.c, as("maker"), "e1", "p1", {
      role: "viewer",
      principals: [bob],
      sendInvitation: false,
      expiresAt: iso(t0 + 30 * day),
    });
    await expect(setExpiry(w.c, as("maker"), "e1", "p1", bob, "viewer", null)).rejects.toMatchObject({
      code: "ruleViolation",
    });
    await expect(setExpiry(w.c, as("maker"), "e1", "p1", bob, "viewer", iso(t0 + 31 * day))).rejects.toMatchObject({
      code: "ruleViolation",
    });
    const shorter = await setExpiry(w.c, as("maker"), "e1", "p1", bob, "viewer", iso(t0 + 2 * day));
    expect(shorter.expiresAt).toBe(iso(t0 + 2 * day));
    await expect(setExpiry(w.c, as("bob"), "e1", "p1", bob, "viewer", iso(t0 + 3 * day))).rejects.toMatchObject({
      code: "forbidden",
    });
    await expect(
      setExpiry(w.c, as("maker"), "e1", "p1", { type: "user", id: "maker" }, "owner", iso(t0 + day)),
    ).rejects.toMatchObject({ code: "ruleViolation", message: expect.stringMatching(/can't expire/) });
    await expect(
      setExpiry(w.c, as("bob"), "e1", "p1", { type: "user", id: "maker" }, "owner", null),
    ).rejects.toMatchObject({ code: "forbidden" });
    w.at(t0 + 2 * day);
    expect(await w.canView("bob")).toBe(false);

    const open = await world();
    await share(open.c, as("maker"), "e1", "p1", {
      role: "viewer",
      principals: [bob],
      sendInvitation: false,
      expiresAt: iso(t0 + 2 * day),
    });
    const forever = await setExpiry(open.c, as("maker"), "e1", "p1", bob, "viewer", null);
    expect(forever.expiresAt).toBeUndefined();
    open.at(t0 + 3 * day);
    await runExpiries(open.c);
    expect(await open.canView("bob")).toBe(true);
  });
});

describe("the expiry audit rules", () => {
  const resource = {
    envId: "e1",
    resourceId: "p1",
    kind: "processMining" as const,
    displayName: "Invoices",
    creatorId: "maker",
    ownerId: "maker",
    createdAt: iso(t0),
    updatedAt: iso(t0),
  };
  const g = (principalId: string, role: "owner" | "viewer", expiresAt?: string) => ({
    principalType: "user" as const,
    principalId,
    role,
    grantedBy: "maker",
    grantedAt: iso(t0),
    ...(expiresAt ? { expiresAt } : {}),
  });
  const users = new Map([
    ["maker", { known: true, enabled: true, guest: true, groupIds: [] }],
    ["bob", { known: true, enabled: true, guest: false, groupIds: [] }],
    ["gus", { known: true, enabled: true, guest: true, groupIds: [] }],
    ["gia", { known: true, enabled: true, guest: true, groupIds: [] }],
  ]);
  const findings = (env: { guestMaxGrantDays?: number; maxGrantDays?: number }, grants: ReturnType<typeof g>[]) =>
    resourceFindings(
      { resource, grants },
      { expectedOwnerGroupIds: [], ...env },
      {
        users,
        groupsWithEnabledMember: new Set(),
        now: new Date(t0),
      },
    )
      .filter((f) => f.rule === "grantExpiringSoon" || f.rule === "guestGrantWithoutExpiry")
      .map((f) => [f.rule, f.principalId]);

  it("flags grants ending within 14 days, not later ones", () => {
    expect(
      findings({}, [
        g("maker", "owner"),
        g("bob", "viewer", iso(t0 + 14 * day)),
        g("gus", "viewer", iso(t0 + 14 * day + 1)),
      ]),
    ).toEqual([["grantExpiringSoon", "bob"]]);
  });

  it("flags guests' grants without expiry only where a guest cap applies, never the creator's owner grant", () => {
    const grants = [
      g("maker", "owner"),
      g("bob", "viewer"),
      g("gus", "viewer"),
      g("gia", "viewer", iso(t0 + 30 * day)),
    ];
    expect(findings({}, grants)).toEqual([]);
    expect(findings({ guestMaxGrantDays: 7 }, grants)).toEqual([["guestGrantWithoutExpiry", "gus"]]);
    expect(findings({ maxGrantDays: 90 }, grants)).toEqual([["guestGrantWithoutExpiry", "gus"]]);
  });
});
