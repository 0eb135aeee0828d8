import { createHash } from "node:crypto";
import { invalid, ruleViolation } from "../errors.js";
import type { EmailJob } from "../model/emailJobs.js";
import { expirySteps, type ExpiryRow } from "../model/expiry.js";
import type { OutboxItemInput } from "../model/outbox.js";
import type { ChangeEntry, Environment, Grant, PrincipalRef, Resource, TenantUser } from "../model/records.js";
import { judgeExpiry } from "../rules/expiry.js";
import type { Role } from "../rules/matrix.js";
import { dayOf } from "../store/expiryRows.js";
import { systemActor, type Capabilities } from "./capabilities.js";
import { changeResource, outboxItems } from "./mutate.js";
import { expiriesOf, principalKey, rolesOf } from "./relay.js";

type Deps = Pick<Capabilities, "repo" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock">;

/** Whether the grant is the creator's or primary owner's owner grant, which never expires. */
export const isPermanentOwner = (resource: Resource, p: PrincipalRef, role: Role) =>
  role === "owner" && p.type === "user" && (p.id === resource.creatorId || p.id === resource.ownerId);

/**
 * Throws 400 (`body.expiresAt` not in the future) or 422 (a permanent owner grant, or the cap that
 * applies: `maxGrantDays`, `guestMaxGrantDays`) unless the grant may carry `expiresAt` (none: null or undefined).
 */
export function requireExpiryAllowed(
  env: Environment,
  resource: Resource,
  p: PrincipalRef,
  role: Role,
  user: TenantUser | undefined,
  expiresAt: string | null | undefined,
  now: Date,
): void {
  const verdict = judgeExpiry(
    env,
    { guest: p.type === "user" && user?.userType === "guest", permanentOwner: isPermanentOwner(resource, p, role) },
    expiresAt,
    now,
  );
  if (verdict.ok) return;
  if (verdict.status === 400)
    throw invalid("expiresAt must be in the future", [{ field: "body.expiresAt", message: verdict.message }]);
  throw ruleViolation(`${p.type} ${p.id}: ${verdict.message}`);
}

/** The outbox item writing the expiry rows of these grants (none for grants without expiry). */
export function expiryItems(envId: string, resourceId: string, grants: readonly Grant[], now: Date): OutboxItemInput[] {
  const rows = grants.flatMap((g) =>
    g.expiresAt
      ? expirySteps(
          {
            envId,
            resourceId,
            principal: { type: g.principalType, id: g.principalId },
            role: g.role,
            expiresAt: g.expiresAt,
          },
          now,
        )
      : [],
  );
  return rows.length > 0 ? [{ type: "expiry", rows }] : [];
}

/** An id derived from the due row, so a step done twice writes one change log entry (and one event). */
const stepId = (row: ExpiryRow) =>
  `x${createHash("sha256")
    .update(JSON.stringify([row.step, row.envId, row.resourceId, row.principal, row.role, row.expiresAt]))
    .digest("hex")
    .slice(0, 40)}`;

const grantJobs = (row: ExpiryRow, audiences: ("grantee" | "owners")[]): EmailJob[] =>
  audiences.map((audience) => ({
    kind: "grantExpiry",
    envId: row.envId,
    resourceId: row.resourceId,
    principal: row.principal,
    role: row.role,
    expiresAt: row.expiresAt,
    step: row.step,
    audience,
  }));

/**
 * Does one due step. Reminders and the removal both commit in the resource's partition under its
 * ETag (the change log entry, and the outbox with the emails and the log item that raises the
 * event), then the relay applies them. A step whose grant no longer ends at the row's `expiresAt`
 * does nothing. Ids derive from the row, so a step done again (a timer run twice, a crash before the
 * row was removed) writes the same entry, the same event id and the same email operation ids, and
 * the mailer and the webhook deliveries drop the repeat; a removal done again finds no grant.
 */
export async function doStep(deps: Deps, row: ExpiryRow): Promise<string> {
  const p = row.principal;
  return changeResource(deps, async () => {
    const state = await deps.repo.resourceStateFor(row.envId, row.resourceId, [p], { includeExpired: true });
    if (!state) return { result: "resource gone" };
    const grant = state.grants.find((g) => g.principalType === p.type && g.principalId === p.id && g.role === row.role);
    if (!grant || grant.expiresAt !== row.expiresAt) return { result: "stale (the grant changed)" };
    const resource = state.resource;
    const what = `${row.role} of ${p.type} ${p.id} on ${resource.kind} ${resource.displayName}`;
    if (row.step !== "expire") {
      const entry: ChangeEntry = {
        changeId: stepId(row),
        at: row.dueAt,
        actorId: systemActor,
        action: "expiring",
        resourceId: row.resourceId,
        principal: p,
        role: row.role,
        detail: `${what} expires at ${row.expiresAt} (${row.step === "remind14" ? "14 days" : "1 day"} reminder)`,
      };
      return {
        result: `${row.step} sent`,
        change: {
          etag: state.etag,
          resource,
          changes: [entry],
          outbox: outboxItems(deps, [
            { type: "log", envId: row.envId, entries: [entry] },
            { type: "email", jobs: grantJobs(row, p.type === "user" ? ["grantee", "owners"] : ["owners"]) },
          ]),
        },
      };
    }
    // The removal, as a revoke removes a grant: the grant row goes (its invitation reads as revoked
    // from then on), the index rows follow through the relay, a group's members through the fan-out.
    const entry: ChangeEntry = {
      changeId: stepId(row),
      at: deps.clock().toISOString(),
      actorId: systemActor,
      action: "expire",
      resourceId: row.resourceId,
      principal: p,
      role: row.role,
      detail: `${what} expired at ${row.expiresAt}`,
    };
    const live = state.grants.filter((g) => g !== grant);
    const updated = { ...resource, updatedAt: entry.at };
    return {
      result: "expired",
      change: {
        etag: state.etag,
        resource: updated,
        deleteGrants: [{ principal: p, role: row.role }],
        changes: [entry],
        outbox: outboxItems(deps, [
          { type: "index", envId: row.envId, resourceId: row.resourceId, principals: [p] },
          { type: "log", envId: row.envId, entries: [entry] },
          { type: "email", jobs: grantJobs(row, ["owners"]) },
        ]),
      },
      known: {
        resource: updated,
        roles: new Map([[principalKey(p), rolesOf(live, p)]]),
        expiries: new Map([[principalKey(p), expiriesOf(live, p)]]),
      },
    };
  });
}

export interface ExpiryRun {
  done: number;
  failed: number;
  days: number;
}

/** How far back a first run looks for due rows (rows land on the day they are due, or written if later). */
const firstRunLookbackDays = 7;

/**
 * The `grantExpiry` timer: reads only the expiry rows due by now, one range per day from its cursor
 * (never before yesterday, in case a late relay wrote into a day just left) to today, does each step
 * and removes its row. A failed step keeps its row (and the cursor) for the next run. The cursor
 * moves to today once every earlier day is done. Safe to run twice at once: each step is idempotent.
 */
export async function runExpiries(deps: Deps, options: { budgetMs?: number } = {}): Promise<ExpiryRun> {
  const started = Date.now();
  const now = deps.clock();
  const today = dayOf(now);
  const cursor = (await deps.repo.expiries.cursor()) ?? dayOf(now.getTime() - firstRunLookbackDays * 86_400_000);
  const yesterday = dayOf(now.getTime() - 86_400_000);
  const run: ExpiryRun = { done: 0, failed: 0, days: 0 };
  let allDone = true;
  for (let t = Date.parse(cursor < yesterday ? cursor : yesterday); dayOf(t) <= today; t += 86_400_000) {
    run.days++;
    for (const { row, pk, rk } of await deps.repo.expiries.dueOn(dayOf(t), now)) {
      if (options.budgetMs !== undefined && Date.now() - started > options.budgetMs) return run;
      try {
        deps.log(
          `expiry ${row.step} of ${row.envId}/${row.resourceId} ${principalKey(row.principal)} ${row.role}: ${await doStep(deps, row)}`,
        );
        await deps.repo.expiries.remove(pk, rk);
        run.done++;
      } catch (e) {
        allDone = false;
        run.failed++;
        deps.log(`expiry ${rk} failed and is kept for the next run: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  if (allDone) await deps.repo.expiries.setCursor(today);
  return run;
}
