/**
 * The decision step side by side: `decide()` (roles and groups → allowed actions, from
 * shared/rules/matrix.ts) against casbin's `enforce()` on an equivalent RBAC-with-domains model, on
 * the same data and the same questions, both warmed up, answers compared question by question.
 *
 * Equivalence: the model has no attributes, so the data keeps to what plain RBAC can say: every user
 * is enabled and holds a security role, and every flow is instant (run-only users may run it). On
 * such data `decide()` allows an action exactly when the principal holds, directly, through a group,
 * or as environment admin, a role whose column in the matrix lists the verb; that is the model:
 *
 * - a domain per resource (`env/resourceId`);
 * - a role per kind and holder (`processMining.viewer`, `cloudFlow.admin`, …) with one `p` line per
 *   verb the matrix gives it (obj = kind, act = verb);
 * - a grant is `g, user:u | group:G, kind.role, env/resourceId`;
 * - group membership is role inheritance `g, user:u, group:G, <domain>`, and environment admins are
 *   `g, user:u, kind.admin, <domain>` for each kind.
 *
 * Two ways to write the last two, both measured: with a domain pattern (`env/*`, matched with
 * casbin's keyMatch, one link per membership: the natural model), and written out for each resource
 * (no pattern: the fastest casbin can go, at the cost of a link per membership per resource).
 */
import { newEnforcer, newModelFromString, Util, type Enforcer } from "casbin";
import { decide, type GrantFacts, type PrincipalFacts, type ResourceFacts } from "../../shared/rules/decide.js";
import { allowedVerbs, resourceKinds, rolesByKind, verbsByKind, type Role } from "../../shared/rules/matrix.js";
import { mulberry32 } from "./prng.js";

const model = `
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.obj == p.obj && r.act == p.act && g(r.sub, p.sub, r.dom)
`;

interface Data {
  envId: string;
  resources: { id: string; facts: ResourceFacts; grants: GrantFacts[] }[];
  principals: Map<string, PrincipalFacts>;
  groups: Map<string, string[]>;
  questions: { userId: string; resource: number; verb: string }[];
}

export interface DecisionDataShape {
  resources: number;
  users: number;
  groups: number;
  admins: number;
  grantsPerResource: number;
  questions: number;
}

function makeData(shape: DecisionDataShape): Data {
  const rnd = mulberry32(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const envId = "env1";
  const users = Array.from({ length: shape.users }, (_, i) => `u${i}`);
  const groups = new Map<string, string[]>();
  for (let g = 0; g < shape.groups; g++) {
    const members = new Set<string>();
    while (members.size < 15) members.add(pick(users));
    groups.set(`g${g}`, [...members]);
  }
  const principals = new Map<string, PrincipalFacts>();
  for (const [i, u] of users.entries()) {
    const memberOf = [...groups.entries()]
      .filter(([, m]) => m.includes(u))
      .map(([id]) => ({ type: "group" as const, id }));
    principals.set(u, {
      principalId: u,
      enabled: true,
      securityRoles: i < shape.admins ? ["SystemAdministrator"] : ["EnvironmentMaker"],
      memberOf,
    });
  }
  const resources: Data["resources"] = [];
  for (let r = 0; r < shape.resources; r++) {
    const kind = resourceKinds[r % resourceKinds.length]!;
    const roles = rolesByKind[kind] as readonly Role[];
    const grants: GrantFacts[] = [
      { principalType: "user", principalId: pick(users.slice(shape.admins)), role: "owner" },
    ];
    const seen = new Set(grants.map((g) => `${g.principalType}|${g.principalId}|${g.role}`));
    while (grants.length < shape.grantsPerResource) {
      const group = rnd() < 0.15;
      const g: GrantFacts = {
        principalType: group ? "group" : "user",
        principalId: group ? pick([...groups.keys()]) : pick(users),
        role: pick(roles.filter((x) => x !== "owner" || kind === "cloudFlow")),
      };
      const k = `${g.principalType}|${g.principalId}|${g.role}`;
      if (seen.has(k)) continue;
      seen.add(k);
      grants.push(g);
    }
    resources.push({
      id: `res${r}`,
      facts: { kind, ...(kind === "cloudFlow" ? { triggerKind: "instant" as const } : {}) },
      grants,
    });
  }
  // Half the questions ask about someone holding a grant on the resource (directly or through a group), half about anyone.
  const questions: Data["questions"] = [];
  for (let q = 0; q < shape.questions; q++) {
    const resource = Math.floor(rnd() * resources.length);
    const res = resources[resource]!;
    let userId = pick(users);
    if (q % 2 === 0) {
      const g = pick(res.grants);
      userId = g.principalType === "user" ? g.principalId : pick(groups.get(g.principalId)!);
    }
    questions.push({ userId, resource, verb: pick(verbsByKind[res.facts.kind] as readonly string[]) });
  }
  return { envId, resources, principals, groups, questions };
}

const domain = (envId: string, resourceId: string) => `${envId}/${resourceId}`;

async function buildEnforcer(data: Data, patterns: boolean): Promise<{ enforcer: Enforcer; policyLines: number }> {
  const e = await newEnforcer(newModelFromString(model));
  e.enableLog(false);
  e.enableAutoBuildRoleLinks(false);
  const p: string[][] = [];
  for (const kind of resourceKinds) {
    const table = allowedVerbs[kind] as Record<string, readonly string[]>;
    for (const [holder, verbs] of Object.entries(table))
      for (const verb of verbs) p.push([`${kind}.${holder}`, kind, verb]);
  }
  const g: string[][] = [];
  const admins = [...data.principals.values()].filter((f) => f.securityRoles?.includes("SystemAdministrator"));
  for (const r of data.resources) {
    const dom = domain(data.envId, r.id);
    for (const grant of r.grants)
      g.push([`${grant.principalType}:${grant.principalId}`, `${r.facts.kind}.${grant.role}`, dom]);
    if (!patterns) {
      const groupsHere = new Set(r.grants.filter((x) => x.principalType === "group").map((x) => x.principalId));
      for (const gid of groupsHere) for (const m of data.groups.get(gid)!) g.push([`user:${m}`, `group:${gid}`, dom]);
      for (const a of admins) g.push([`user:${a.principalId}`, `${r.facts.kind}.admin`, dom]);
    }
  }
  if (patterns) {
    const all = `${data.envId}/*`;
    for (const [gid, members] of data.groups) for (const m of members) g.push([`user:${m}`, `group:${gid}`, all]);
    for (const a of admins) for (const kind of resourceKinds) g.push([`user:${a.principalId}`, `${kind}.admin`, all]);
    await e.addNamedDomainMatchingFunc("g", Util.keyMatchFunc);
  }
  await e.addPolicies(p);
  await e.addGroupingPolicies(g);
  await e.buildRoleLinks();
  return { enforcer: e, policyLines: p.length + g.length };
}

export interface DecisionEngineResult {
  name: string;
  checksPerSecond: number;
  /** Per round, checks per second. */
  rounds: number[];
  policyLines?: number;
  agreesWithDecide: { compared: number; disagreements: number };
}

export interface DecisionComparison {
  shape: DecisionDataShape;
  engines: DecisionEngineResult[];
  note: string;
}

/** Runs each engine over the question list for about `roundMs` per round, engines alternating, `rounds` times. */
export async function compareDecisions(
  shape: DecisionDataShape,
  opts: { rounds: number; roundMs: number; verifySample: number; log: (line: string) => void },
): Promise<DecisionComparison> {
  const data = makeData(shape);
  const qs = data.questions;
  const decideOne = (q: Data["questions"][number]): boolean => {
    const r = data.resources[q.resource]!;
    const d = decide(r.facts, r.grants, data.principals.get(q.userId)!);
    return d.actions.includes(`${r.facts.kind}.${q.verb}` as (typeof d.actions)[number]);
  };
  const engines: {
    name: string;
    enforcer?: Enforcer;
    policyLines?: number;
    pass: (from: number, to: number) => Promise<number> | number;
  }[] = [
    {
      name: "decide() (in process)",
      pass: (from, to) => {
        let allowed = 0;
        for (let i = from; i < to; i++) if (decideOne(qs[i]!)) allowed++;
        return allowed;
      },
    },
  ];
  for (const patterns of [false, true]) {
    const { enforcer, policyLines } = await buildEnforcer(data, patterns);
    const label = patterns ? "domain pattern env/* for groups and admins" : "links written out per resource";
    engines.push({
      name: `casbin enforce(), ${label}`,
      enforcer,
      policyLines,
      pass: async (from, to) => {
        let allowed = 0;
        for (let i = from; i < to; i++) {
          const q = qs[i]!;
          const r = data.resources[q.resource]!;
          if (await enforcer.enforce(`user:${q.userId}`, domain(data.envId, r.id), r.facts.kind, q.verb)) allowed++;
        }
        return allowed;
      },
    });
    engines.push({
      name: `casbin enforceSync(), ${label}`,
      enforcer,
      policyLines,
      pass: (from, to) => {
        let allowed = 0;
        for (let i = from; i < to; i++) {
          const q = qs[i]!;
          const r = data.resources[q.resource]!;
          if (enforcer.enforceSync(`user:${q.userId}`, domain(data.envId, r.id), r.facts.kind, q.verb)) allowed++;
        }
        return allowed;
      },
    });
  }

  // Same answers, question by question, on a sample (the first `verifySample` questions).
  const sample = Math.min(opts.verifySample, qs.length);
  const expected = qs.slice(0, sample).map(decideOne);
  const allowedShare = expected.filter(Boolean).length / Math.max(1, sample);
  const agreement = new Map<string, { compared: number; disagreements: number }>();
  for (const e of engines) {
    let disagreements = 0;
    for (let i = 0; i < sample; i++) {
      const got = (await e.pass(i, i + 1)) === 1;
      if (got !== expected[i]) disagreements++;
    }
    agreement.set(e.name, { compared: sample, disagreements });
  }

  // Warm-up: one slice each, then timed rounds, each engine continuing through the list where it left off.
  const cursor = new Map<string, number>(engines.map((e) => [e.name, 0]));
  const rates = new Map<string, number[]>(engines.map((e) => [e.name, []]));
  const runFor = async (e: (typeof engines)[number], budgetMs: number): Promise<number> => {
    let done = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < budgetMs) {
      const from = cursor.get(e.name)!;
      const to = Math.min(qs.length, from + 200);
      await e.pass(from, to);
      done += to - from;
      cursor.set(e.name, to >= qs.length ? 0 : to);
    }
    return done / ((performance.now() - t0) / 1000);
  };
  for (const e of engines) await runFor(e, Math.min(300, opts.roundMs));
  for (let round = 0; round < opts.rounds; round++) {
    for (let k = 0; k < engines.length; k++) {
      const e = engines[(round + k) % engines.length]!;
      rates.get(e.name)!.push(await runFor(e, opts.roundMs));
    }
    opts.log(`  decision round ${round + 1}/${opts.rounds} done`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return {
    shape,
    engines: engines.map((e) => ({
      name: e.name,
      checksPerSecond: median(rates.get(e.name)!),
      rounds: rates.get(e.name)!,
      ...(e.policyLines !== undefined ? { policyLines: e.policyLines } : {}),
      agreesWithDecide: agreement.get(e.name)!,
    })),
    note: `${(allowedShare * 100).toFixed(0)}% of the sampled questions are allowed; decide() computes every allowed action and the path to each role, then the bench tests one action; casbin answers the one question`,
  };
}
