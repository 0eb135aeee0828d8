/**
 * A bounded load run on loopback against the whole stack (local Functions host as a child process,
 * Azurite, mail sink): many concurrent clients, for LOAD_SECONDS (default 8; `npm run load` runs 60),
 * mixing access checks, shares, revokes and group membership changes on the SAME few resources.
 *
 * How the final state stays determined: every client owns its own principals, and sends one request
 * at a time, so for each (resource, principal, role) the order of accepted operations is the order
 * that one client sent them; clients contend only on the resources (each change of a resource
 * replaces its meta row under an ETag, so concurrent changes retry, and may end in 409). Each client
 * keeps what its accepted operations imply, and checks every answer against it as it goes (a check
 * right after a share must see it). At the end (after one sweeper run, which finishes any relay that
 * failed under load), the grants (`GET .../shares`) and each principal's listing (`GET
 * .../principals/{id}/resources`, the index the relay keeps) must equal what the clients kept.
 *
 * Group changes: each client has its own group, which holds viewer on the process; a client adds its
 * principals to it and removes them, and a check right after must see it (checks read membership
 * rows, exact at once). Listings through the group follow through the fan-out queue, so at the end
 * they are polled, with a bound, until they match.
 *
 * Asserted: no 5xx; every 409 is the API's problem+json conflict and changes nothing; no answer
 * contradicts the client's own earlier accepted operations; the final grants and listings match.
 * Throughput and latency percentiles are printed, never asserted (the machine is shared).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allowedVerbs, grantableRoles, verbsByKind, type ResourceKind } from "../../shared/rules/matrix.js";
import { startStack, type ApiResult, type Stack } from "../support/stack.js";
import { eventually } from "../support/poll.js";
import { newWorld } from "../support/world.js";
import { mulberry32 as prng } from "../../tools/bench/prng.js";

const seconds = Number(process.env.LOAD_SECONDS ?? "8");
const clientCount = Number(process.env.LOAD_CLIENTS ?? "32");
const principalsPerClient = 2;
/** Times a client sends an operation again after a 409 (the API's "try again") before giving it up. */
const conflictRetries = 3;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

type Op = "check" | "share" | "revoke" | "group";

interface Stats {
  latencies: Record<Op, number[]>;
  statuses: Map<string, number>;
  serverErrors: string[];
  conflicts: number;
  abandoned: number;
  contradictions: string[];
  accepted: Record<Op, number>;
}

const percentile = (xs: number[], p: number) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

describe(`load: ${clientCount} clients for ${seconds} s on the same resources`, () => {
  it(
    "never answers 5xx, and the final grants and listings are what the accepted operations imply",
    async () => {
      const w = await newWorld(stack);
      await w.user("owner");
      const resources: { id: string; kind: ResourceKind }[] = [];
      for (const kind of ["processMining", "taskMining", "cloudFlow"] as const) {
        resources.push({
          id: await w.resource("owner", kind === "cloudFlow" ? { kind, triggerKind: "instant" } : { kind }),
          kind,
        });
      }
      const names = Array.from({ length: clientCount }, (_, c) =>
        Array.from({ length: principalsPerClient }, (_, k) => `c${c}p${k}`),
      );
      // Users in parallel batches: setup is not what is measured.
      for (let i = 0; i < names.length; i += 8)
        await Promise.all(
          names
            .slice(i, i + 8)
            .flat()
            .map((n) => w.user(n)),
        );
      const ownerToken = await w.token("owner");
      // Each client's group, holding viewer on the process.
      const processId = resources[0]!.id;
      const groupOf = (c: number) => `${w.envId}-g${c}`;
      for (let c = 0; c < clientCount; c++) await w.group(groupOf(c), []);
      for (let c = 0; c < clientCount; c += 8) {
        const r = await stack.api("POST", `/api/environments/${w.envId}/resources/${processId}/shares`, {
          token: ownerToken,
          body: {
            role: "viewer",
            principals: Array.from({ length: Math.min(8, clientCount - c) }, (_, k) => ({
              type: "group",
              id: groupOf(c + k),
            })),
            sendInvitation: false,
          },
        });
        expect(r.status, r.text).toBe(201);
      }
      /** The principals now in their client's group. */
      const inGroup = new Set<string>();
      /** The roles a principal holds on a resource: its own grants, and viewer on the process through its group. */
      const effective = (resourceId: string, principalId: string) =>
        new Set([
          ...held(resourceId, principalId),
          ...(resourceId === processId && inGroup.has(principalId) ? ["viewer"] : []),
        ]);
      const tokens = new Map<string, string>();
      for (const n of names.flat()) tokens.set(n, await w.token(n));

      const stats: Stats = {
        latencies: { check: [], share: [], revoke: [], group: [] },
        statuses: new Map(),
        serverErrors: [],
        conflicts: 0,
        abandoned: 0,
        contradictions: [],
        accepted: { check: 0, share: 0, revoke: 0, group: 0 },
      };
      /** What each client's accepted operations imply: `${resourceId}|${principalId}` → roles held. */
      const expected = new Map<string, Set<string>>();
      const held = (resourceId: string, principalId: string) => {
        const k = `${resourceId}|${principalId}`;
        let s = expected.get(k);
        if (!s) expected.set(k, (s = new Set()));
        return s;
      };

      const call = async (op: Op, method: string, path: string, token: string, body?: unknown): Promise<ApiResult> => {
        for (let attempt = 0; ; attempt++) {
          const t0 = performance.now();
          const r = await stack.api(method, `/api/environments/${w.envId}/${path}`, {
            token,
            ...(body !== undefined ? { body } : {}),
          });
          stats.latencies[op].push(performance.now() - t0);
          const key = `${op} ${r.status}`;
          stats.statuses.set(key, (stats.statuses.get(key) ?? 0) + 1);
          if (r.status >= 500) stats.serverErrors.push(`${method} ${path}: ${r.status} ${r.text.slice(0, 300)}`);
          if (r.status !== 409) return r;
          // A 409 must be the API saying so: problem+json, a conflict that asks to try again.
          const ct = r.headers.get("content-type") ?? "";
          const detail = (r.json as { detail?: string } | undefined)?.detail ?? "";
          if (!ct.startsWith("application/problem+json") || !/kept changing|try again/i.test(detail)) {
            stats.contradictions.push(
              `${method} ${path}: 409 that is not the API's retryable conflict: ${r.text.slice(0, 200)}`,
            );
            return r;
          }
          stats.conflicts++;
          if (attempt >= conflictRetries) {
            stats.abandoned++;
            return r;
          }
          await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * (attempt + 1)));
        }
      };

      const deadline = Date.now() + seconds * 1000;
      const client = async (c: number) => {
        const rnd = prng(1000 + c);
        const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
        let ops = 0;
        while (Date.now() < deadline && ops < 100_000) {
          ops++;
          const resource = pick(resources);
          const name = pick(names[c]!);
          const principalId = w.id(name);
          const roles = held(resource.id, principalId);
          const dice = rnd();
          if (dice >= 0.4 && dice < 0.5) {
            // Join or leave the client's own group; a check right after must see it.
            const member = inGroup.has(principalId);
            const r = await call("group", "PATCH", `groups/${groupOf(c)}/members`, w.adminToken, {
              [member ? "remove" : "add"]: [principalId],
            });
            if (r.status !== 200) {
              stats.contradictions.push(`group change for ${name}: unexpected ${r.status} ${r.text.slice(0, 200)}`);
              continue;
            }
            stats.accepted.group++;
            const body = r.json as { added: string[]; removed: string[] };
            if ((member ? body.removed : body.added).join() !== principalId)
              stats.contradictions.push(`group change for ${name} answered ${r.text.slice(0, 200)}`);
            if (member) inGroup.delete(principalId);
            else inGroup.add(principalId);
            continue;
          }
          if (dice < 0.4) {
            // The principal asks about itself; the answer must follow from the roles this client gave it.
            const verb = pick(verbsByKind[resource.kind] as readonly string[]);
            const action = `${resource.kind}.${verb}`;
            const r = await call("check", "POST", "check", tokens.get(name)!, {
              checks: [{ principalId, resourceId: resource.id, action }],
            });
            if (r.status !== 200) continue;
            stats.accepted.check++;
            const table = allowedVerbs[resource.kind] as Record<string, readonly string[]>;
            const want = [...effective(resource.id, principalId)].some((role) => table[role]?.includes(verb));
            const got = (r.json as { results: { allowed: boolean }[] }).results[0]?.allowed;
            if (got !== want)
              stats.contradictions.push(
                `check ${action} for ${name} on ${resource.id} holding [${[...effective(resource.id, principalId)].join(", ")}]: allowed=${got}, expected ${want}`,
              );
          } else if (dice < 0.7) {
            const role = pick(grantableRoles[resource.kind] as readonly string[]);
            const r = await call("share", "POST", `resources/${resource.id}/shares`, ownerToken, {
              role,
              principals: [{ type: "user", id: principalId }],
              sendInvitation: rnd() < 0.25,
            });
            if (r.status === 201 || r.status === 200) {
              stats.accepted.share++;
              const created = r.status === 201;
              if (created === roles.has(role))
                stats.contradictions.push(
                  `share ${role} of ${resource.id} with ${name} answered ${r.status} while it was ${roles.has(role) ? "held" : "not held"}`,
                );
              roles.add(role);
            } else if (r.status !== 409) {
              stats.contradictions.push(
                `share ${role} of ${resource.id} with ${name}: unexpected ${r.status} ${r.text.slice(0, 200)}`,
              );
            }
          } else {
            // Mostly revoke something held, sometimes something that isn't (a 404 that changes nothing).
            const role =
              roles.size > 0 && rnd() < 0.8
                ? pick([...roles])
                : pick(grantableRoles[resource.kind] as readonly string[]);
            const r = await call(
              "revoke",
              "DELETE",
              `resources/${resource.id}/shares/user/${principalId}/${role}`,
              ownerToken,
            );
            if (r.status === 200 || r.status === 204) {
              stats.accepted.revoke++;
              if (!roles.has(role))
                stats.contradictions.push(
                  `revoke ${role} of ${resource.id} from ${name} succeeded while it was not held`,
                );
              roles.delete(role);
            } else if (r.status === 404) {
              stats.accepted.revoke++;
              if (roles.has(role))
                stats.contradictions.push(
                  `revoke ${role} of ${resource.id} from ${name} answered 404 while it was held: ${r.text.slice(0, 200)}`,
                );
            } else if (r.status !== 409) {
              stats.contradictions.push(
                `revoke ${role} of ${resource.id} from ${name}: unexpected ${r.status} ${r.text.slice(0, 200)}`,
              );
            }
          }
        }
      };
      const started = performance.now();
      await Promise.all(Array.from({ length: clientCount }, (_, c) => client(c)));
      const wall = (performance.now() - started) / 1000;

      // The final state, once settled: a relay that failed under load left its items for the
      // sweeper (counted below), so run it once, as its timer would within a minute.
      const sweptBefore = (stack.logs().match(/left for the sweeper/g) ?? []).length;
      await stack.runFunction("outboxSweeper");
      // Grants on each resource, and each principal's listing.
      const ours = new Set(names.flat().map((n) => w.id(n)));
      const grantDiffs: string[] = [];
      for (const resource of resources) {
        const r = await stack.api("GET", `/api/environments/${w.envId}/resources/${resource.id}/shares`, {
          token: ownerToken,
        });
        expect(r.status, r.text).toBe(200);
        const grants = (
          r.json as { grants: { principalType: string; principalId: string; role: string }[] }
        ).grants.filter((g) => g.principalType === "user" && ours.has(g.principalId));
        const actual = new Set(grants.map((g) => `${g.principalId}|${g.role}`));
        const wanted = new Set([...ours].flatMap((p) => [...held(resource.id, p)].map((role) => `${p}|${role}`)));
        for (const k of wanted) if (!actual.has(k)) grantDiffs.push(`${resource.id}: missing ${k}`);
        for (const k of actual) if (!wanted.has(k)) grantDiffs.push(`${resource.id}: unexpected ${k}`);
      }
      // Listings through a group follow through the fan-out queue: poll until they settle.
      const listingDiffsNow = async () => {
        const diffs: string[] = [];
        for (const name of names.flat()) {
          const principalId = w.id(name);
          const r = await stack.api("GET", `/api/environments/${w.envId}/principals/${principalId}/resources`, {
            token: tokens.get(name)!,
          });
          expect(r.status, r.text).toBe(200);
          const listed = new Map(
            (r.json as { resources: { resourceId: string; roles: string[] }[] }).resources.map((x) => [
              x.resourceId,
              [...x.roles].sort().join(","),
            ]),
          );
          for (const resource of resources) {
            const want = [...effective(resource.id, principalId)].sort().join(",");
            const got = listed.get(resource.id) ?? "";
            if (want !== got) diffs.push(`${name} on ${resource.id}: listed [${got}], grants imply [${want}]`);
          }
        }
        return diffs;
      };
      const listingDiffs = await eventually("every listing to match the grants and groups", listingDiffsNow, {
        until: (diffs) => diffs.length === 0,
        timeoutMs: 60_000,
        intervalMs: 500,
      }).catch(() => listingDiffsNow());
      const total =
        stats.latencies.check.length +
        stats.latencies.share.length +
        stats.latencies.revoke.length +
        stats.latencies.group.length;
      const lines = [
        `load: ${clientCount} clients, ${seconds} s (${wall.toFixed(1)} s wall), ${total} requests, ${(total / wall).toFixed(0)} requests/s`,
        ...(["check", "share", "revoke", "group"] as const).map((op) => {
          const xs = stats.latencies[op];
          const f = (v: number) => v.toFixed(1).padStart(7);
          return `  ${op.padEnd(6)} ${String(xs.length).padStart(6)} requests  p50 ${f(percentile(xs, 50))} ms  p95 ${f(percentile(xs, 95))} ms  p99 ${f(percentile(xs, 99))} ms  max ${f(percentile(xs, 100))} ms  accepted ${stats.accepted[op]}`;
        }),
        `  statuses: ${[...stats.statuses.entries()]
          .sort()
          .map(([k, v]) => `${k} ×${v}`)
          .join(", ")}`,
        `  409 conflicts ${stats.conflicts} (each sent again up to ${conflictRetries} times; ${stats.abandoned} operations given up, counted as not accepted)`,
        `  relays left for the sweeper under load (host log): ${sweptBefore}`,
        `  final state: ${resources.length} resources, ${expected.size} (resource, principal) pairs, ${[...expected.values()].reduce((n, s) => n + s.size, 0)} grants held by the clients' principals`,
      ];
      console.log(lines.join("\n"));

      expect(stats.serverErrors, "5xx answers").toEqual([]);
      expect(stats.accepted.share + stats.accepted.revoke, "some writes were accepted").toBeGreaterThan(0);
      expect(stats.contradictions, "answers contradicting the client's own accepted operations").toEqual([]);
      expect(grantDiffs, "final grants against the accepted operations").toEqual([]);
      expect(listingDiffs, "each principal's listing against its grants").toEqual([]);
    },
    seconds * 1000 + 180_000,
  );
});
