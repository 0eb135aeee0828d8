import { describe, expect, it } from "vitest";
import { webhookTargetGuard } from "../../shared/adapters/http/ssrfGuard.js";
import type { EmailJob } from "../../shared/model/emailJobs.js";
import type { RowStore } from "../../shared/ports/rows.js";
import { directoryMemberSchema } from "../../shared/model/memberFacts.js";
import { keys, tableNames } from "../../shared/store/keys.js";
import { decodeRow } from "../../shared/store/rowJson.js";
import { openStores } from "../../shared/store/stores.js";
import { check, effectiveAccess } from "../../shared/usecases/access.js";
import { sortableId, type Caller, type Capabilities } from "../../shared/usecases/capabilities.js";
import { putEnvironment, putMembership, putUser } from "../../shared/usecases/directory.js";
import { sweepOutbox } from "../../shared/usecases/relay.js";
import { principalResources, putResource } from "../../shared/usecases/resources.js";
import { share } from "../../shared/usecases/sharing.js";
import { backends, uniquePrefix } from "../support/backends.js";

const admin: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
const as = (id: string): Caller => ({ principalId: id, appRoles: [] });

/** Counts storage requests (HTTP requests on Azurite, calls on the fake) and how many overlapped. */
class Meter {
  on = false;
  requests: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  start() {
    this.on = true;
    this.requests = [];
    this.maxInFlight = 0;
  }
  sent = (method: string, url: string) => {
    if (!this.on) return;
    this.requests.push(`${method} ${url}`);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
  };
  done = () => {
    if (this.on) this.inFlight--;
  };
}

/** Records each port call with its table, and can make chosen calls fail once, as a crash would. */
function instrumented(
  store: RowStore,
  calls: string[],
  fault: { armed?: { method: string; table: string } | undefined },
) {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        // Transactions are recorded with what they write, so a test can tell a grant's from the relay's.
        const writes =
          prop === "transact" && Array.isArray(args[2])
            ? ` ${(args[2] as { op: string; rk: string }[]).map((o) => `${o.op}:${o.rk.split("|")[0]}`).join(",")}`
            : "";
        calls.push(`${String(prop)} ${String(args[0])}${writes}`);
        const armed = fault.armed;
        if (armed && armed.method === prop && String(args[0]).endsWith(armed.table)) {
          fault.armed = undefined;
          return Promise.reject(new Error("injected crash"));
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

describe.each(backends())("repository on $name", (backend) => {
  async function world(opts: { failEmailOnce?: boolean } = {}) {
    const meter = new Meter();
    const calls: string[] = [];
    const fault: { armed?: { method: string; table: string } | undefined } = {};
    const store = instrumented(backend.make(meter.sent, meter.done), calls, fault);
    const prefix = uniquePrefix();
    const sent: EmailJob[] = [];
    let failEmail = false;
    const logs: string[] = [];
    const caps: Capabilities = {
      ...openStores(store, tableNames(prefix)),
      emailQueue: {
        send: async (job) => {
          if (failEmail) {
            failEmail = false;
            throw new Error("queue down");
          }
          sent.push(job);
        },
      },
      fanoutQueue: { send: async () => undefined },
      webhookQueue: { send: async () => undefined },
      // Delivery is not what these tests are about: an attempt here would be a bug.
      deliverWebhook: () => Promise.reject(new Error("no webhook delivery in this test")),
      clock: () => new Date(),
      newId: () => sortableId(),
      invitationTtlDays: 14,
      checkWebhookTarget: webhookTargetGuard({ allowLoopbackHttp: false }),
      log: (m) => void logs.push(m),
    };
    await putEnvironment(caps, admin, {
      envId: "e1",
      displayName: "Env",
      isDefault: true,
      sensitive: false,
      expectedOwnerGroupIds: [],
      sovereignCloud: false,
    });
    for (const id of ["maker", "bob"]) {
      await putUser(caps, admin, {
        userId: id,
        email: `${id}@x.test`,
        displayName: id,
        userType: "member",
        enabled: true,
        license: "paid",
      });
      await putMembership(caps, admin, { envId: "e1", userId: id, securityRoles: ["EnvironmentMaker"] });
    }
    await putResource(
      caps,
      as("maker"),
      "e1",
      "p1",
      { kind: "processMining", displayName: "Orders", creatorId: "maker" },
      undefined,
    );
    failEmail = opts.failEmailOnce ?? false;
    /** From now on, the next call of this method on this table fails once. */
    const failNext = (method: string, table: string) => void (fault.armed = { method, table });
    return { caps, meter, calls, sent, logs, failNext, tables: tableNames(prefix) };
  }

  it("answers an access check and a check item in one round trip, whatever else the resource holds", async () => {
    const { caps, meter } = await world();
    await share(caps, as("maker"), "e1", "p1", {
      role: "viewer",
      principals: [{ type: "user", id: "bob" }],
      sendInvitation: false,
    });
    meter.start();
    const results = await check(caps, as("bob"), "e1", [
      { principalId: "bob", resourceId: "p1", action: "processMining.viewAnalytics" },
    ]);
    expect(results[0]?.allowed).toBe(true);
    // The resource (meta, bob's grants, the groups' grants), bob's profile, membership and groups, and
    // the environment's custom roles' privileges (one row).
    expect(meter.requests).toHaveLength(5);
    expect(meter.maxInFlight).toBe(5);
    meter.start();
    const access = await effectiveAccess(caps, as("bob"), "e1", "p1", "bob");
    expect(access.roles).toEqual(["viewer"]);
    // The same, and the group of that id in case the principal is one.
    expect(meter.requests).toHaveLength(6);
    expect(meter.maxInFlight).toBe(6);
  });

  it("shares one role with one principal in one entity-group transaction", async () => {
    const { caps, calls, tables } = await world();
    calls.length = 0;
    await share(caps, as("maker"), "e1", "p1", {
      role: "viewer",
      principals: [{ type: "user", id: "bob" }],
      sendInvitation: true,
    });
    const onResources = calls.filter((c) => c.startsWith(`transact ${tables.resources} `));
    const granting = onResources.filter((c) => c.includes("upsert:grant"));
    expect(granting).toHaveLength(1);
    // The one transaction holds the meta row under its ETag, the grant, the invitation and the outbox.
    expect(granting[0]).toMatch(/replace:meta.*upsert:grant.*upsert:invitation.*upsert:outbox/);
    // Besides it, only the relay's removal of the applied outbox rows touches the resource's partition.
    expect(onResources.filter((c) => c !== granting[0]).every((c) => /^transact \S+ (delete:outbox,?)+$/.test(c))).toBe(
      true,
    );
  });

  it("lists a principal's resources with one partition query", async () => {
    const { caps, meter } = await world();
    await share(caps, as("maker"), "e1", "p1", {
      role: "viewer",
      principals: [{ type: "user", id: "bob" }],
      sendInvitation: false,
    });
    meter.start();
    const listed = await principalResources(caps, as("bob"), "e1", "bob", undefined, undefined);
    expect(listed.resources.map((r) => r.resourceId)).toEqual(["p1"]);
    expect(meter.requests).toHaveLength(1);
  });

  it("repairs a crash between the grant and its index: the sweeper finishes it, the same email job again", async () => {
    const { caps, sent, logs, tables, failNext } = await world();
    failNext("transact", tables.principals);
    const r = await share(caps, as("maker"), "e1", "p1", {
      role: "viewer",
      principals: [{ type: "user", id: "bob" }],
      sendInvitation: true,
    });
    expect(r.created).toBe(true);
    expect(logs.some((l) => l.includes("left for the sweeper"))).toBe(true);
    expect((await principalResources(caps, as("bob"), "e1", "bob", undefined, undefined)).resources).toEqual([]);
    // The change's effects go together, so the job left beside the failed index write; the sweeper
    // queues the same job again, which the mailer sends once (its record of the job's identity:
    // test/unit/emailsMailer.test.ts).
    expect(sent.map((j) => j.kind)).toEqual(["invitation"]);
    expect(await sweepOutbox(caps)).toBe(1);
    expect(
      (await principalResources(caps, as("bob"), "e1", "bob", undefined, undefined)).resources.map((x) => x.resourceId),
    ).toEqual(["p1"]);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual(sent[0]);
    expect(await sweepOutbox(caps)).toBe(0);
    expect(sent).toHaveLength(2);
  });

  it("repairs a crash after the index was written but before the email was queued", async () => {
    const { caps, sent } = await world({ failEmailOnce: true });
    await share(caps, as("maker"), "e1", "p1", {
      role: "viewer",
      principals: [{ type: "user", id: "bob" }],
      sendInvitation: true,
    });
    expect((await principalResources(caps, as("bob"), "e1", "bob", undefined, undefined)).resources).toHaveLength(1);
    expect(sent).toHaveLength(0);
    expect(await sweepOutbox(caps)).toBe(1);
    expect(sent).toHaveLength(1);
    expect((await principalResources(caps, as("bob"), "e1", "bob", undefined, undefined)).resources).toHaveLength(1);
  });

  it("carries a profile's enabled and guest facts to every environment's member row, through the outbox", async () => {
    const { caps, logs, tables, failNext } = await world();
    await putEnvironment(caps, admin, {
      envId: "e2",
      displayName: "Env two",
      isDefault: false,
      sensitive: false,
      expectedOwnerGroupIds: [],
      sovereignCloud: false,
    });
    await putMembership(caps, admin, { envId: "e2", userId: "bob", securityRoles: ["BasicUser"] });
    const facts = async (envId: string, userId = "bob") => {
      const row = await caps.repo.rows.get(tables.directory, keys.directoryPk(envId), keys.envMemberRk(userId));
      return row && decodeRow(directoryMemberSchema, row).facts;
    };
    const bob = (changes: { enabled: boolean; userType: "member" | "guest"; displayName?: string }) =>
      putUser(caps, admin, { userId: "bob", email: "bob@x.test", displayName: "bob", license: "paid", ...changes });
    expect([await facts("e1"), await facts("e2")]).toEqual([
      { enabled: true, userType: "member" },
      { enabled: true, userType: "member" },
    ]);

    await bob({ enabled: false, userType: "guest" });
    expect([await facts("e1"), await facts("e2")]).toEqual([
      { enabled: false, userType: "guest" },
      { enabled: false, userType: "guest" },
    ]);
    // The membership responses don't show the facts, and rewriting a membership keeps them.
    const { membership } = await putMembership(caps, admin, { envId: "e2", userId: "bob", securityRoles: [] });
    expect(membership).toEqual({ envId: "e2", userId: "bob", securityRoles: [], addedBy: "admin" });
    expect(await caps.repo.environmentMembers("e2")).toEqual([membership]);
    expect(await facts("e2")).toEqual({ enabled: false, userType: "guest" });

    // A crash after the profile's transaction, before its relay: the outbox row waits in the user's
    // partition and the sweeper finishes the change.
    failNext("queryPage", tables.principals);
    await bob({ enabled: true, userType: "member" });
    expect(logs.some((l) => l.includes("left for the sweeper"))).toBe(true);
    expect(await facts("e1")).toEqual({ enabled: false, userType: "guest" });
    expect(await sweepOutbox(caps)).toBe(1);
    expect([await facts("e1"), await facts("e2"), await facts("e1", "maker")]).toEqual([
      { enabled: true, userType: "member" },
      { enabled: true, userType: "member" },
      { enabled: true, userType: "member" },
    ]);
    expect(await sweepOutbox(caps)).toBe(0);
    // A change that leaves the facts as they are writes no outbox row.
    await bob({ enabled: true, userType: "member", displayName: "Robert" });
    expect(await caps.repo.outbox.items("principals", keys.principalPk({ type: "user", id: "bob" }))).toEqual([]);
  });
});
