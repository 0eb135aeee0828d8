import { describe, expect, it } from "vitest";
import type { EmailJob } from "../../shared/model/emailJobs.js";
import type { FanoutMessage } from "../../shared/model/fanout.js";
import type { SecurityRole } from "../../shared/model/records.js";
import type { EmailSender, OutgoingEmail } from "../../shared/ports/email.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import {
  patchGroupMembers,
  putEnvironment,
  putGroup,
  putMembership,
  putUser,
} from "../../shared/usecases/directory.js";
import type { MailerDeps } from "../../shared/usecases/email/handler.js";
import { handleEmailMessage } from "../../shared/usecases/email/mailer.js";
import { handleFanout } from "../../shared/usecases/fanout.js";
import { offboard } from "../../shared/usecases/offboarding.js";
import { reassign } from "../../shared/usecases/reassign.js";
import { putResource } from "../../shared/usecases/resources.js";
import { share } from "../../shared/usecases/sharing.js";
import { memoryCaps } from "../support/memoryCaps.js";
import { renderOwnerAlertEmail } from "../../shared/emails/ownerAlert.js";
import { MemoryRowStore } from "../../shared/adapters/memory/memoryRowStore.js";
import type { WriteOp } from "../../shared/ports/rows.js";
import { sweepOutbox } from "../../shared/usecases/relay.js";

const app: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
const as = (id: string): Caller => ({ principalId: id, appRoles: [] });

/** A memory store that fails, as a crash would, once a number of resource owner changes have been written. */
class CrashingStore extends MemoryRowStore {
  crashAfter = Infinity;
  ownerChanges = 0;
  override async transact(table: string, pk: string, ops: readonly WriteOp[]) {
    if (
      table.endsWith("Resources") &&
      ops.some((o) => o.rk.startsWith("change|")) &&
      ops.some((o) => o.rk === "meta")
    ) {
      if (this.ownerChanges >= this.crashAfter) throw new Error("injected crash");
      this.ownerChanges++;
    }
    return super.transact(table, pk, ops);
  }
}

/** Environment e1 (sensitive or not), its people, two processes of `leaver` and a flow of `other`. */
async function world(sensitive: boolean, store = new MemoryRowStore()) {
  const m = memoryCaps(store);
  const c = m.caps;
  await putEnvironment(c, app, {
    envId: "e1",
    displayName: "Env",
    isDefault: false,
    sensitive,
    expectedOwnerGroupIds: [],
    sovereignCloud: false,
  });
  const people: [string, SecurityRole[]][] = [
    ["admin", ["SystemAdministrator"]],
    ["leaver", ["EnvironmentMaker"]],
    ["heir", ["EnvironmentMaker"]],
    ["other", ["EnvironmentMaker"]],
    ["j1", ["BasicUser"]],
    ["j2", ["BasicUser"]],
    ["j3", ["BasicUser"]],
  ];
  for (const [id, roles] of people) {
    await putUser(c, app, {
      userId: id,
      email: `${id}@x.test`,
      displayName: id,
      userType: "member",
      enabled: true,
      license: "paid",
    });
    await putMembership(c, app, { envId: "e1", userId: id, securityRoles: roles });
  }
  const process = (id: string, creatorId: string) =>
    putResource(c, as(creatorId), "e1", id, { kind: "processMining", displayName: `P ${id}`, creatorId }, undefined);
  await process("p1", "leaver");
  await process("p2", "leaver");
  await putResource(
    c,
    as("other"),
    "e1",
    "f1",
    { kind: "cloudFlow", displayName: "F", creatorId: "other", solutionAware: true, triggerKind: "instant" },
    undefined,
  );
  const delivered: OutgoingEmail[] = [];
  const sender: EmailSender = {
    async send(email) {
      delivered.push(email);
      return { messageId: email.operationId };
    },
  };
  const invitations = {
    signingKey: "s".repeat(40),
    publicBaseUrl: "https://api.example.test/",
    appBaseUrl: "https://app.example.test/app",
  };
  const mailer: MailerDeps = { ...c, sender, invitations };
  let n = 0;
  /** Runs jobs through the mailer, as the queue trigger would; returns what each came to. */
  const mail = async (jobs: readonly EmailJob[]) => {
    const out: string[] = [];
    for (const j of jobs)
      out.push((await handleEmailMessage(mailer, j, { messageId: `m${n++}`, dequeueCount: 1 })).result);
    return out;
  };
  return { ...m, c, mail, delivered };
}

type Alert = Extract<EmailJob, { kind: "ownerAlert" }>;
const alerts = (jobs: readonly EmailJob[]): Alert[] => jobs.filter((j): j is Alert => j.kind === "ownerAlert");
const brief = (a: Alert) => `${a.how}|${a.resourceId}|${a.principal.type}:${a.principal.id}|${a.role}`;

describe("owner alerts on a reassignment", () => {
  it("alerts once per resource it moves, in a sensitive environment only", async () => {
    for (const sensitive of [true, false]) {
      const w = await world(sensitive);
      const r = await reassign(w.c, app, "e1", { fromUserId: "leaver", toUserId: "heir", dryRun: false });
      expect(r.reassigned.map((x) => x.resourceId)).toEqual(["p1", "p2"]);
      const got = alerts(w.sent);
      expect(got.map(brief).sort()).toEqual(
        sensitive ? ["reassignment|p1|user:heir|owner", "reassignment|p2|user:heir|owner"] : [],
      );
      if (!sensitive) continue;
      expect(got.every((a) => a.actorId === "app")).toBe(true);
      expect((await w.mail(got)).every((x) => x === "sent")).toBe(true);
      expect(w.delivered.map((e) => e.to.map((t) => t.address))).toEqual([["admin@x.test"], ["admin@x.test"]]);
      expect(w.delivered[0]!.plainText).toContain("by reassigning a user's records");
    }
  });

  it("a run resumed after a crash alerts each moved resource once", async () => {
    const store = new CrashingStore();
    const w = await world(true, store);
    const req = { fromUserId: "leaver", toUserId: "heir", dryRun: false };
    // The second resource's owner change fails as a crash would; the same request continues the run.
    store.crashAfter = store.ownerChanges + 1;
    await expect(reassign(w.c, app, "e1", req, { pageSize: 1 })).rejects.toThrow("injected crash");
    store.crashAfter = Infinity;
    const r = await reassign(w.c, app, "e1", req, { pageSize: 1 });
    expect(r.reassigned.map((x) => x.resourceId)).toEqual(["p1", "p2"]);
    await sweepOutbox(w.c);
    const got = alerts(w.sent);
    expect(got.map(brief).sort()).toEqual(["reassignment|p1|user:heir|owner", "reassignment|p2|user:heir|owner"]);
    // Whatever is queued again (a sweeper's copy, a redelivered message) carries the same id: sent once.
    const results = await w.mail([...got, ...got]);
    expect(results).toEqual(["sent", "sent", "skipped", "skipped"]);
  });
});

describe("owner alerts on an offboarding", () => {
  it("alerts for each resource it transfers, and it grants no co-owner", async () => {
    const w = await world(true);
    await share(w.c, as("leaver"), "e1", "p1", {
      role: "coOwner",
      principals: [{ type: "user", id: "other" }],
      sendInvitation: false,
    });
    const before = w.sent.length;
    const r = await offboard(w.c, app, "e1", { userId: "leaver", successorId: "heir", dryRun: false });
    expect(r.transferred.map((x) => x.resourceId).sort()).toEqual(["p1", "p2"]);
    const got = alerts(w.sent.slice(before));
    expect(got.map(brief).sort()).toEqual(["offboarding|p1|user:heir|owner", "offboarding|p2|user:heir|owner"]);
    const p1 = await w.c.repo.resourceState("e1", "p1");
    // The co-owner `other` keeps the grant it had; nobody gained one.
    expect(p1!.grants.filter((g) => g.role === "coOwner").map((g) => g.principalId)).toEqual(["other"]);
    expect(await w.mail([...got, ...got])).toEqual(["sent", "sent", "skipped", "skipped"]);
    expect(w.delivered[0]!.plainText).toContain("by offboarding a user who left");
  });
});

describe("owner alerts when a group is shared with, or someone joins it", () => {
  async function groupWorld(sensitive: boolean) {
    const w = await world(sensitive);
    await putGroup(w.c, app, {
      envId: "e1",
      groupId: "g1",
      displayName: "Finance",
      kind: "securityGroup",
      memberIds: ["j1"],
    });
    await w.drainFanout();
    const before = w.sent.length;
    await share(w.c, as("leaver"), "e1", "p1", {
      role: "coOwner",
      principals: [{ type: "group", id: "g1" }],
      sendInvitation: false,
    });
    await share(w.c, as("other"), "e1", "f1", {
      role: "owner",
      principals: [{ type: "group", id: "g1" }],
      sendInvitation: false,
    });
    await w.drainFanout();
    return { ...w, shareAlerts: alerts(w.sent.slice(before)) };
  }

  it("a share to a group names the group once, not each member", async () => {
    const w = await groupWorld(true);
    expect(w.shareAlerts.map(brief).sort()).toEqual(["share|f1|group:g1|owner", "share|p1|group:g1|coOwner"]);
    await w.mail(w.shareAlerts);
    expect(w.delivered.map((e) => e.subject).sort()).toEqual([
      '[Env] Finance (security group) was made a co-owner of the process mining process "P p1"',
      '[Env] Finance (security group) was made an owner of the cloud flow "F"',
    ]);
  });

  it("a member who joins gets one alert per resource and role the group holds, sent by the fan-out", async () => {
    const w = await groupWorld(true);
    const before = w.sent.length;
    await patchGroupMembers(w.c, as("admin"), "e1", "g1", { add: ["j2", "j3"] });
    // Nothing on the request path: the alerts come with the members' fan-out.
    expect(alerts(w.sent.slice(before))).toEqual([]);
    const messages: FanoutMessage[] = [...w.fanout];
    expect(messages.some((x) => x.type === "members" && x.memberIds.slice(0, x.joinedCount).includes("j2"))).toBe(true);
    await w.drainFanout();
    const got = alerts(w.sent.slice(before));
    expect(got.map(brief).sort()).toEqual([
      "groupMembership|f1|user:j2|owner",
      "groupMembership|f1|user:j3|owner",
      "groupMembership|p1|user:j2|coOwner",
      "groupMembership|p1|user:j3|coOwner",
    ]);
    expect(got.every((a) => a.via?.id === "g1" && a.actorId === "admin")).toBe(true);

    // The same messages handled again (a redelivery, or a run after a crash) queue the same alerts...
    const again = w.sent.length;
    for (const msg of messages) await handleFanout(w.c, msg);
    await w.drainFanout();
    const repeated = alerts(w.sent.slice(again));
    expect(repeated.map((a) => a.alertId).sort()).toEqual(got.map((a) => a.alertId).sort());
    // ...which the mailer sends once.
    const results = await w.mail([...got, ...repeated]);
    expect(results.filter((x) => x === "sent")).toHaveLength(4);
    expect(results.filter((x) => x === "skipped")).toHaveLength(4);
    const j2p1 = w.delivered.find((e) => e.subject.includes("j2") && e.subject.includes("P p1"));
    expect(j2p1?.plainText).toContain("admin added them to Finance (security group), which holds that role");
  });

  it("leaving, a member already in the group, or a group that holds no ownership alerts nobody", async () => {
    const w = await groupWorld(true);
    const before = w.sent.length;
    await patchGroupMembers(w.c, as("admin"), "e1", "g1", { remove: ["j1"] });
    await putGroup(w.c, app, {
      envId: "e1",
      groupId: "g2",
      displayName: "Readers",
      kind: "securityGroup",
      memberIds: ["j1"],
    });
    await share(w.c, as("leaver"), "e1", "p2", {
      role: "viewer",
      principals: [{ type: "group", id: "g2" }],
      sendInvitation: false,
    });
    await w.drainFanout();
    await patchGroupMembers(w.c, as("admin"), "e1", "g2", { add: ["j2"] });
    await w.drainFanout();
    expect(alerts(w.sent.slice(before))).toEqual([]);
  });

  it("a join in an environment that is not sensitive alerts nobody", async () => {
    const w = await groupWorld(false);
    expect(w.shareAlerts).toEqual([]);
    const before = w.sent.length;
    await putGroup(w.c, app, {
      envId: "e1",
      groupId: "g1",
      displayName: "Finance",
      kind: "securityGroup",
      memberIds: ["j1", "j2"],
    });
    await w.drainFanout();
    expect(alerts(w.sent.slice(before))).toEqual([]);
  });

  it("a whole-membership PUT alerts only the members it adds", async () => {
    const w = await groupWorld(true);
    const before = w.sent.length;
    await putGroup(w.c, app, {
      envId: "e1",
      groupId: "g1",
      displayName: "Finance",
      kind: "securityGroup",
      memberIds: ["j1", "j3"],
    });
    await w.drainFanout();
    expect(alerts(w.sent.slice(before)).map(brief).sort()).toEqual([
      "groupMembership|f1|user:j3|owner",
      "groupMembership|p1|user:j3|coOwner",
    ]);
  });
});

describe("what an owner alert says of how it happened", () => {
  const base = {
    environmentName: "Env",
    resource: { name: "Invoices", kind: "processMining" as const },
    resourceId: "p1",
    principalLabel: "Jo (jo@x.test)",
    role: "coOwner" as const,
    actorName: "Ada",
    at: "2026-01-01T00:00:00.000Z",
    link: "https://app.example.test/p1",
  };
  it("names the path, the group joined, and reads as before for jobs without one", () => {
    expect(renderOwnerAlertEmail(base).plainText).toMatch(
      /^Ada made Jo \(jo@x\.test\) a co-owner of .* in the sensitive/,
    );
    expect(renderOwnerAlertEmail({ ...base, how: "reassignment" }).plainText).toMatch(
      /^Ada made Jo \(jo@x\.test\) a co-owner of .* by reassigning a user's records in the sensitive/,
    );
    expect(
      renderOwnerAlertEmail({ ...base, how: "groupMembership", viaLabel: "Finance (security group)" }).plainText,
    ).toMatch(
      /^Jo \(jo@x\.test\) became a co-owner of .* in the sensitive environment "Env" on .*: Ada added them to Finance \(security group\), which holds that role\./,
    );
  });
});
