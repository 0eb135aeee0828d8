import { TableClient } from "@azure/data-tables";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tableNames } from "../../shared/store/keys.js";
import { encodeComponent, encodeRaw } from "../fuzz/hostile.js";
import { rawClient, type RawClient, type RawResponse } from "../fuzz/rawHttp.js";
import { startStack, type Stack } from "../support/stack.js";
import { newWorld, uid } from "../support/world.js";

// Ids, params and bodies that try to escape an OData filter or reach another partition: two
// environments with data, requests from one aimed at the other's rows (quotes, OData operators,
// `|` separators, encoded slashes, forged continuation tokens), then every table read straight
// from Azurite: the other environment's rows are byte-for-byte (ETag-for-ETag) what they were.

let stack: Stack;
let client: RawClient;
beforeAll(async () => {
  stack = await startStack();
  client = rawClient(stack.baseUrl, { maxSockets: 8, timeoutMs: 15_000 });
}, 120_000);
afterAll(async () => {
  client?.close();
  await stack?.stop();
});

type Snapshot = Map<string, { etag: string; json: unknown }>;

/** Every row of every table of the app, keyed `table pk rk`, read from Azurite directly. */
async function snapshot(): Promise<Snapshot> {
  const rows: Snapshot = new Map();
  for (const table of Object.values(tableNames(stack.settings.TABLE_PREFIX ?? "sharing"))) {
    const client = TableClient.fromConnectionString(stack.storageConnectionString, table, {
      allowInsecureConnection: true,
    });
    try {
      for await (const e of client.listEntities<{ json?: string }>())
        rows.set(JSON.stringify([table, e.partitionKey, e.rowKey]), { etag: e.etag, json: e.json });
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 404) throw e;
    }
  }
  return rows;
}

type Key = [table: string, pk: string, rk: string];
const keyOf = (k: string): Key => JSON.parse(k) as Key;

/** Rows added, changed (another ETag) or removed between two snapshots. */
function diff(before: Snapshot, after: Snapshot): Key[] {
  const changed: string[] = [];
  for (const [key, row] of after) if (before.get(key)?.etag !== row.etag) changed.push(key);
  for (const key of before.keys()) if (!after.has(key)) changed.push(key);
  return changed.map(keyOf);
}

/** Two environments, each with a maker, an environment admin, a viewer and resources of each kind. */
async function twoEnvironments() {
  const a = await newWorld(stack);
  const b = await newWorld(stack);
  for (const w of [a, b]) {
    await w.user("maker");
    await w.user("envAdmin", { roles: ["SystemAdministrator"] });
    await w.user("viewer");
  }
  const resA = await a.resource("maker", { kind: "processMining" });
  const flowA = await a.resource("maker", {
    kind: "cloudFlow",
    triggerKind: "instant",
    connections: [{ id: uid("conn"), connector: "sql", ownerId: a.id("maker"), usage: "embedded" }],
  });
  // Names only B's data carries: an answer to A that contains one leaked B's data.
  const secretsOfB = [uid("SECRET-B-resource"), uid("SECRET-B-tm"), uid("SECRET-B-label"), uid("SECRET-B-group")];
  const resB = await b.resource("maker", { kind: "processMining", displayName: secretsOfB[0] });
  const tmB = await b.resource("maker", { kind: "taskMining", displayName: secretsOfB[1] });
  expect((await a.share("maker", resA, "viewer", [{ type: "user", id: a.id("viewer") }])).status).toBe(201);
  expect((await b.share("maker", resB, "viewer", [{ type: "user", id: b.id("viewer") }])).status).toBe(201);
  expect(
    (await b.as("maker", "PUT", `resources/${tmB}/recordings/${uid("rec")}`, { label: secretsOfB[2] })).status,
  ).toBeLessThan(300);
  const groupB = uid("grp");
  expect(
    (
      await stack.api("PUT", `/api/environments/${b.envId}/groups/${groupB}`, {
        token: b.adminToken,
        body: { displayName: secretsOfB[3], kind: "securityGroup", memberIds: [b.id("viewer")] },
      })
    ).status,
  ).toBeLessThan(300);
  // Anything the relays left behind is finished before the first snapshot.
  await stack.runFunction("outboxSweeper");
  return { a, b, resA, flowA, resB, tmB, secretsOfB: secretsOfB as string[] };
}

/** Whether a table row belongs to environment `envId` (the README's storage layout). */
function ofEnvironment([table, pk, rk]: Key, envId: string): boolean {
  if (table.endsWith("Environments")) return rk === envId;
  if (table.endsWith("Principals")) return rk.startsWith(`env|${envId}|`);
  return pk === envId || pk.startsWith(`${envId}|`);
}

describe("ids aimed at another environment's partition or at an OData filter", () => {
  it("a maker and an environment admin of A, with ids and bodies crafted to reach B, change nothing of B and write no crafted key", async () => {
    const { a, b, resA, flowA, resB, tmB, secretsOfB } = await twoEnvironments();
    const userB = b.id("maker");
    const viewerB = b.id("viewer");
    const escapes = [
      `${resA}' or PartitionKey eq '${b.envId}|${resB}`,
      `${resA}') or (PartitionKey ge '`,
      `' or PartitionKey ne '`,
      `${b.envId}|${resB}`,
      `${resB}|grant|user|${viewerB}|viewer`,
      `${resA}|meta`,
      `../${b.envId}/resources/${resB}`,
      `..%2F..%2F${b.envId}%2Fresources%2F${resB}`,
      `${resB}\u0000`,
      `${resB}%00`,
      `${resB}*`,
    ];
    const before = await snapshot();
    const bRows = [...before.keys()].filter((k) => ofEnvironment(keyOf(k), b.envId));
    expect(bRows.length).toBeGreaterThan(10);

    const tokens = { maker: await a.token("maker"), envAdmin: await a.token("envAdmin") };
    const answers: { what: string; res: RawResponse }[] = [];
    const send = async (what: string, method: string, path: string, body?: unknown, token = tokens.maker) => {
      const res = await client.send({
        method,
        path,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      answers.push({ what: `${method} ${path}`, res });
      return res;
    };
    const envA = `/api/environments/${a.envId}`;
    for (const id of escapes) {
      for (const enc of [encodeComponent(id), encodeRaw(id)]) {
        for (const token of [tokens.maker, tokens.envAdmin]) {
          await send("read resource", "GET", `${envA}/resources/${enc}`, undefined, token);
          await send("list shares", "GET", `${envA}/resources/${enc}/shares`, undefined, token);
          await send(
            "register",
            "PUT",
            `${envA}/resources/${enc}`,
            { kind: "processMining", displayName: "pwned", creatorId: a.id("maker") },
            token,
          );
          await send("delete", "DELETE", `${envA}/resources/${enc}`, undefined, token);
          await send(
            "share",
            "POST",
            `${envA}/resources/${enc}/shares`,
            { role: "owner", principals: [{ type: "user", id: a.id("maker") }], sendInvitation: false },
            token,
          );
          await send("revoke", "DELETE", `${envA}/resources/${resA}/shares/user/${enc}/viewer`, undefined, token);
          await send(
            "revoke B's viewer through A",
            "DELETE",
            `${envA}/resources/${enc}/shares/user/${viewerB}/viewer`,
            undefined,
            token,
          );
          await send("recording", "PUT", `${envA}/resources/${enc}/recordings/${uid("rec")}`, { label: "x" }, token);
          await send("delete B's recordings", "DELETE", `${envA}/resources/${tmB}/recordings/${enc}`, undefined, token);
          await send("access", "GET", `${envA}/resources/${resA}/access/${enc}`, undefined, token);
          await send("index", "GET", `${envA}/principals/${enc}/resources`, undefined, token);
          await send(
            "changes",
            "GET",
            `${envA}/changes?resourceId=${encodeComponent(id)}&principalId=${encodeComponent(id)}`,
            undefined,
            token,
          );
          await send("search", "GET", `${envA}/directory?search=${encodeComponent(id)}`, undefined, token);
          await send("membership", "PUT", `${envA}/users/${enc}`, { securityRoles: ["SystemAdministrator"] }, token);
          await send(
            "group",
            "PUT",
            `${envA}/groups/${enc}`,
            { displayName: "g", kind: "securityGroup", memberIds: [userB] },
            token,
          );
        }
        await send("env", "PUT", `/api/environments/${enc}`, { displayName: "pwned" }, tokens.envAdmin);
      }
      // Crafted ids inside bodies.
      await send("share body", "POST", `${envA}/resources/${resA}/shares`, {
        role: "viewer",
        principals: [{ type: "user", id }],
        sendInvitation: false,
      });
      await send("run-only choices", "POST", `${envA}/resources/${flowA}/shares`, {
        role: "runOnly",
        principals: [{ type: "user", id: a.id("viewer") }],
        connectionChoices: { [id]: "invoker" },
        sendInvitation: false,
      });
      await send("check body", "POST", `${envA}/check`, {
        checks: [
          { principalId: id, resourceId: id, action: "processMining.delete" },
          { principalId: viewerB, resourceId: resB, action: "processMining.delete" },
        ],
      });
      await send("copies", "POST", `${envA}/resources/${flowA}/copies`, { recipientIds: [id] });
      await send(
        "reassign",
        "POST",
        `${envA}/reassignments`,
        { fromUserId: id, toUserId: a.id("maker") },
        tokens.envAdmin,
      );
      await send("register with creator", "PUT", `${envA}/resources/${uid("r")}`, {
        kind: "processMining",
        displayName: id,
        creatorId: id,
      });
    }

    expect(answers.length).toBeGreaterThan(600);
    expect(
      answers.filter((x) => x.res.status >= 500).map((x) => `${x.what}: ${x.res.status} ${x.res.text.slice(0, 200)}`),
    ).toEqual([]);
    // Nothing crafted was accepted: every answer refused the id, or found nothing in A.
    const accepted = answers.filter((x) => x.res.status < 300 && !/^GET /.test(x.what) && !x.what.includes("/check"));
    expect(accepted.map((x) => `${x.what}: ${x.res.status}`)).toEqual([]);
    // No answer carried B's data (names no request contains).
    expect(answers.filter((x) => secretsOfB.some((secret) => x.res.text.includes(secret))).map((x) => x.what)).toEqual(
      [],
    );

    await stack.runFunction("outboxSweeper");
    const after = await snapshot();
    const changed = diff(before, after);
    expect(changed.filter((k) => ofEnvironment(k, b.envId))).toEqual([]);
    expect(changed.filter((k) => !ofEnvironment(k, a.envId))).toEqual([]);
    // No key anywhere holds what the requests smuggled in.
    const crafted = [...after.keys()]
      .map(keyOf)
      .filter(([, pk, rk]) => [pk, rk].some((key) => /'| or |\.\.|%2F|\*/i.test(key) || key.includes("\0")));
    expect(crafted).toEqual([]);

    // And through the API, B's owner sees B as it was.
    const shares = await b.as("maker", "GET", `resources/${resB}/shares`);
    expect(shares.status).toBe(200);
    expect(JSON.stringify(shares.json)).toContain(viewerB);
  });

  it("a resource registered in A under B's resource id is A's own: deleting it leaves B's untouched", async () => {
    const { a, b, resB } = await twoEnvironments();
    const before = await snapshot();
    const mine = await a.as("maker", "PUT", `resources/${resB}`, {
      kind: "processMining",
      displayName: "same id, other env",
      creatorId: a.id("maker"),
    });
    expect(mine.status, mine.text).toBeLessThan(300);
    expect((await a.share("maker", resB, "viewer", [{ type: "user", id: a.id("viewer") }])).status).toBe(201);
    expect((await a.as("maker", "DELETE", `resources/${resB}`)).status).toBeLessThan(300);
    await stack.runFunction("outboxSweeper");
    const changed = diff(before, await snapshot());
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.filter((k) => !ofEnvironment(k, a.envId))).toEqual([]);
    const theirs = await b.as("maker", "GET", `resources/${resB}`);
    expect(theirs.status).toBe(200);
    expect((theirs.json as { displayName: string }).displayName).not.toBe("same id, other env");
  });

  it("forged continuation tokens naming B's partitions return only A's rows", async () => {
    const { a, b, resA, resB, secretsOfB } = await twoEnvironments();
    const sdkToken = (pk: string, rk?: string) =>
      Buffer.from(JSON.stringify({ nextPartitionKey: pk, ...(rk ? { nextRowKey: rk } : {}) })).toString("base64");
    const changesToken = (s: "r" | "e", c: string) => Buffer.from(JSON.stringify({ s, c })).toString("base64url");
    // What the maker holds, listed without a token: a forged token may only page through this.
    const own = await a.as("maker", "GET", `principals/${a.id("maker")}/resources`);
    expect(own.status).toBe(200);
    const aIds = new Set((own.json as { resources: { resourceId: string }[] }).resources.map((r) => r.resourceId));
    expect(aIds.has(resA)).toBe(true);
    const answers: string[] = [];
    const secrets = [...secretsOfB, b.id("viewer")];
    for (const pk of [`user|${b.id("maker")}`, `user|${b.id("viewer")}`, "0", "~"]) {
      const listed = await a.as(
        "maker",
        "GET",
        `principals/${a.id("maker")}/resources?continuationToken=${encodeURIComponent(sdkToken(pk, `env|${b.envId}|res|`))}`,
      );
      expect(listed.status, listed.text).toBeLessThan(500);
      if (listed.status === 200)
        for (const r of (listed.json as { resources: { resourceId: string }[] }).resources)
          expect(aIds.has(r.resourceId), r.resourceId).toBe(true);
      answers.push(listed.text);
    }
    for (const [s, pk, rk] of [
      ["e", b.envId, ""],
      ["e", "0", ""],
      ["r", `${b.envId}|${resB}`, "change|"],
      ["r", "0", ""],
    ] as const) {
      const path = `changes?${s === "r" ? `resourceId=${resA}&` : ""}continuationToken=${changesToken(s, sdkToken(pk, rk))}`;
      for (const who of ["maker", "envAdmin"]) {
        const res = await a.as(who, "GET", path);
        expect(res.status, res.text).toBeLessThan(500);
        answers.push(res.text);
      }
    }
    expect(answers.filter((t) => secrets.some((secret) => t.includes(secret)))).toEqual([]);
  });
});
