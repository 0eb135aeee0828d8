/**
 * The compliance audit's rules (sharing-rules.md, "Compliance audits and alerts"): facts about a
 * resource, its grants and the directory in, findings out. Nothing here reads storage or the clock;
 * the audit run (`usecases/audits/run.ts`) gathers the facts and records the findings.
 */
import type { ChangeEntry, Environment, Grant, Resource } from "../model/records.js";
import { auditRules, severities, type AuditRule, type Finding, type Severity } from "../model/audits.js";
import { nonBusinessConnectors } from "./dlp.js";
import { capFor, type CapFacts } from "./expiry.js";
import { ownershipRoles, type Role } from "./matrix.js";

/** How bad each finding is; reports list the worst first. */
export const severityOf: Record<AuditRule, Severity> = {
  noEnabledOwner: "high",
  disabledConnectionOwner: "high",
  guestOwner: "high",
  ownerOutsideExpectedGroups: "medium",
  ownerAddedSinceLastAudit: "medium",
  disabledUserGrant: "low",
  tooManyOwners: "low",
  ownerlessResource: "high",
  leaverNotOffboarded: "medium",
  nonBusinessFlowShared: "medium",
  ownerNotMember: "medium",
  ownerWithoutMakerRole: "low",
  grantExpiringSoon: "low",
  guestGrantWithoutExpiry: "medium",
};

/** Lead of the `grantExpiringSoon` rule: the first reminder's (sharing-rules.md, "Time-bound access"). */
export const expiringSoonMs = 14 * 86_400_000;

/**
 * Time-bound grants: grants ending within 14 days (so their owners can extend them), and guests'
 * grants that never end although a cap applies to guests (given before the cap, or a cap set later).
 * The creator's and primary owner's owner grants never expire, so they are never flagged.
 */
function expiryFindings(
  state: { resource: Resource; grants: readonly Grant[] },
  env: CapFacts,
  user: (id: string) => UserFacts,
  now: Date,
  what: string,
  add: (rule: AuditRule, detail: string, principalId?: string) => void,
): void {
  const r = state.resource;
  for (const g of state.grants) {
    const who = `${g.principalType} ${g.principalId}`;
    if (g.expiresAt) {
      const left = Date.parse(g.expiresAt) - now.getTime();
      if (left > 0 && left <= expiringSoonMs)
        add("grantExpiringSoon", `${g.role} of ${who} on ${what} expires at ${g.expiresAt}`, g.principalId);
      continue;
    }
    const permanentOwner =
      g.role === "owner" &&
      g.principalType === "user" &&
      (g.principalId === r.creatorId || g.principalId === r.ownerId);
    const guest = g.principalType === "user" && user(g.principalId).guest;
    const cap = guest ? capFor(env, { guest, permanentOwner }) : undefined;
    if (cap)
      add(
        "guestGrantWithoutExpiry",
        `guest ${g.principalId} holds ${g.role} of ${what} with no expiry, though the environment caps guests' grants at ${cap.days} day(s) (${cap.setting}); give it an expiry (PATCH .../shares/user/${g.principalId}/${g.role})`,
        g.principalId,
      );
  }
}

/** What each rule means, in the words of sharing-rules.md, for reports and emails. */
export const ruleTitles: Record<AuditRule, string> = {
  noEnabledOwner: "Resources with no enabled owner",
  disabledConnectionOwner: "Embedded connections owned by disabled users",
  guestOwner: "Guest owners",
  ownerOutsideExpectedGroups: "Owners outside the expected owner groups",
  ownerAddedSinceLastAudit: "Owners and co-owners added since the last audit",
  disabledUserGrant: "Grants to disabled users",
  tooManyOwners: "Flows with more owners than allowed",
  ownerlessResource: "Ownerless resources (no successor when their owner left)",
  leaverNotOffboarded: "Leavers who still hold grants or own resources",
  nonBusinessFlowShared: "Flows with non-business connectors shared with guests or run-only users",
  ownerNotMember: "Owners who are not members of the environment",
  ownerWithoutMakerRole: "Owners and co-owners without a maker role",
  grantExpiringSoon: "Grants expiring within 14 days",
  guestGrantWithoutExpiry: "Guests' grants without expiry where a guest cap applies",
};

const severityRank = (s: Severity) => severities.indexOf(s);
const ruleRank = (r: AuditRule) => auditRules.indexOf(r);
/** Worst first: severity, then the rule's place in the list, then resource and principal. */
export function compareFindings(a: Finding, b: Finding): number {
  return (
    severityRank(a.severity) - severityRank(b.severity) ||
    ruleRank(a.rule) - ruleRank(b.rule) ||
    (a.resourceId ?? "").localeCompare(b.resourceId ?? "") ||
    (a.principalId ?? "").localeCompare(b.principalId ?? "")
  );
}

/** A user as the audit sees them in the tenant directory. */
export interface UserFacts {
  /** False for a user no longer in the tenant directory. */
  known: boolean;
  enabled: boolean;
  guest: boolean;
  /** The groups and lists the user is a member of. */
  groupIds: string[];
  /** False for a user who is no member of the environment (removed from it); undefined counts as a member. */
  member?: boolean;
  /** Whether the member holds a maker role (EnvironmentMaker or SystemAdministrator); undefined: not known, not judged. */
  maker?: boolean;
}

/** A user the directory doesn't know: not enabled, in no group. */
export const unknownUser: UserFacts = { known: false, enabled: false, guest: false, groupIds: [] };

/** What the rules need to know about one resource beyond its own rows. */
export interface ResourceFacts {
  /** Every user holding a grant, and every owner of an embedded connection; a user missing here is unknown. */
  users: ReadonlyMap<string, UserFacts>;
  /** Owner groups and lists with an enabled member (only needed when no user owner is enabled). */
  groupsWithEnabledMember: ReadonlySet<string>;
  /** The audit's instant, for the expiry rules (given, as this module reads no clock); none: they don't run. */
  now?: Date | undefined;
}

/** The users whose facts `resourceFindings` needs: grant holders first, then embedded connections' owners. */
export function usersToLookUp(resource: Resource, grants: readonly Grant[]): string[] {
  const ids = grants.filter((g) => g.principalType === "user").map((g) => g.principalId);
  for (const c of embeddedConnections(resource)) ids.push(c.ownerId);
  return [...new Set(ids)];
}

/** Whether a user holding the `owner` role is enabled; when none is, owner groups decide. */
export function hasEnabledUserOwner(grants: readonly Grant[], users: ReadonlyMap<string, UserFacts>): boolean {
  return grants.some((g) => g.role === "owner" && g.principalType === "user" && users.get(g.principalId)?.enabled);
}

/** The groups and lists holding the `owner` role, in grant order: the ones whose members `noEnabledOwner` looks at. */
export const ownerGroups = (grants: readonly Grant[]): string[] =>
  grants.filter((g) => g.role === "owner" && g.principalType !== "user").map((g) => g.principalId);

const embeddedConnections = (r: Resource) =>
  (r.kind === "cloudFlow" ? (r.connections ?? []) : []).filter((c) => c.usage === "embedded");

/** The findings about one resource, from its grants, its connections and the directory. */
export function resourceFindings(
  state: { resource: Resource; grants: readonly Grant[] },
  env: Pick<Environment, "expectedOwnerGroupIds" | "maxOwners" | "autoOffboard" | "dlp"> &
    Partial<Pick<Environment, "maxGrantDays" | "guestMaxGrantDays">>,
  facts: ResourceFacts,
): Finding[] {
  const r = state.resource;
  const what = `${r.kind} "${r.displayName}"`;
  const user = (id: string) => facts.users.get(id) ?? unknownUser;
  const out: Finding[] = [];
  const add = (rule: AuditRule, detail: string, principalId?: string) =>
    out.push({
      rule,
      severity: severityOf[rule],
      resourceId: r.resourceId,
      ...(principalId ? { principalId } : {}),
      detail: clip(detail),
    });
  const expected = env.expectedOwnerGroupIds;
  const owners = state.grants.filter((g) => g.role === "owner");
  for (const g of state.grants) {
    const owning = ownershipRoles.includes(g.role);
    if (g.principalType === "user") {
      const u = user(g.principalId);
      if (!u.enabled)
        add(
          "disabledUserGrant",
          `${g.role} of ${what} is granted to ${u.known ? "disabled user" : "a user no longer in the tenant directory,"} ${g.principalId}`,
          g.principalId,
        );
      if (owning && u.guest) add("guestOwner", `guest user ${g.principalId} is ${g.role} of ${what}`, g.principalId);
      if (owning && expected.length > 0 && !u.groupIds.some((id) => expected.includes(id))) {
        add(
          "ownerOutsideExpectedGroups",
          `${g.role} ${g.principalId} of ${what} is in none of the expected owner groups (${expected.join(", ")})`,
          g.principalId,
        );
      }
    } else if (owning && expected.length > 0 && !expected.includes(g.principalId)) {
      add(
        "ownerOutsideExpectedGroups",
        `${g.principalType} ${g.principalId} is ${g.role} of ${what} and is not one of the expected owner groups (${expected.join(", ")})`,
        g.principalId,
      );
    }
  }
  const enabledOwner =
    hasEnabledUserOwner(state.grants, facts.users) ||
    ownerGroups(state.grants).some((id) => facts.groupsWithEnabledMember.has(id));
  if (!enabledOwner) {
    add(
      "noEnabledOwner",
      owners.length === 0
        ? `${what} has no owner`
        : `no owner of ${what} is enabled (${owners.map((g) => `${g.principalType} ${g.principalId}`).join(", ")}); co-owners don't become owner by themselves: reassign it`,
    );
  }
  if (r.kind === "cloudFlow" && env.maxOwners !== undefined && owners.length > env.maxOwners) {
    add(
      "tooManyOwners",
      `${what} has ${owners.length} owners, more than the ${env.maxOwners} allowed; prefer run-only access for people who only run it`,
    );
  }
  // The primary owner's slot is empty: an offboarding found no successor (sharing-rules.md, "Owners never vanish").
  if (!owners.some((g) => g.principalType === "user" && g.principalId === r.ownerId)) {
    add(
      "ownerlessResource",
      `${what} is ownerless: its primary owner ${r.ownerId} left and no successor could own it; reassign it to an enabled maker`,
      r.ownerId,
    );
  }
  // Where leavers aren't offboarded by themselves, each one still holding something here is flagged.
  const leavers = new Set<string>();
  if (env.autoOffboard !== true) {
    const held = new Map<string, string[]>();
    for (const g of state.grants)
      if (g.principalType === "user") held.set(g.principalId, [...(held.get(g.principalId) ?? []), g.role]);
    for (const [id, roles] of held) {
      const u = user(id);
      const why = !u.known
        ? "is no longer in the tenant directory"
        : !u.enabled
          ? "is disabled in the tenant directory"
          : u.member === false
            ? "is no longer a member of the environment"
            : undefined;
      if (why) leavers.add(id);
      if (why)
        add(
          "leaverNotOffboarded",
          `${id} ${why} and still holds ${roles.join(", ")} of ${what}${r.ownerId === id ? " as its primary owner" : ""}; offboard them (POST .../offboardings) or turn on autoOffboard`,
          id,
        );
    }
  }
  ownerBestPracticeFindings(state.grants, user, leavers, what, add);
  if (facts.now) expiryFindings(state, env, user, facts.now, what, add);
  if (r.kind === "cloudFlow") {
    const nonBusiness = nonBusinessConnectors(env.dlp, r.connections);
    // Run-only holders of any kind (a group included), and guests holding any role.
    const exposed = [
      ...new Set(
        state.grants
          .filter((g) => g.role === "runOnly" || (g.principalType === "user" && user(g.principalId).guest))
          .map((g) =>
            g.principalType === "user" && user(g.principalId).guest
              ? `guest user ${g.principalId}`
              : `run-only ${g.principalType} ${g.principalId}`,
          ),
      ),
    ];
    if (nonBusiness.length > 0 && exposed.length > 0) {
      const shown = exposed.slice(0, 10).join(", ");
      add(
        "nonBusinessFlowShared",
        `${what} uses non-business connector(s) ${nonBusiness.map((c) => `"${c}"`).join(", ")} under the environment's data loss prevention policy and is shared with ${shown}${exposed.length > 10 ? ` and ${exposed.length - 10} more` : ""}; classify the connectors business, or share the flow with members only`,
      );
    }
  }
  for (const c of embeddedConnections(r)) {
    const u = user(c.ownerId);
    if (!u.enabled)
      add(
        "disabledConnectionOwner",
        `embedded connection ${c.id} (${c.connector}) of ${what} uses the credentials of ${u.known ? "disabled user" : "unknown user"} ${c.ownerId}; an owner must give it new credentials`,
        c.ownerId,
      );
  }
  return out;
}

/**
 * Seed 004's best practices, for every user holding `owner` or `coOwner` (the primary owner holds
 * `owner`): one who is not a member of the environment (`ownerNotMember`), and an enabled member with
 * neither EnvironmentMaker nor SystemAdministrator (`ownerWithoutMakerRole`). A non-member already
 * flagged by `leaverNotOffboarded` on this resource isn't flagged again, so where autoOffboard is off
 * that rule says it (with the way out, offboarding); where it is on, a non-member still owning means
 * the offboarding hasn't run or couldn't finish. A disabled owner is flagged by the disabled rules,
 * not for the role it holds.
 */
function ownerBestPracticeFindings(
  grants: readonly Grant[],
  user: (id: string) => UserFacts,
  leavers: ReadonlySet<string>,
  what: string,
  add: (rule: AuditRule, detail: string, principalId?: string) => void,
): void {
  const owning = new Map<string, Role[]>();
  for (const g of grants)
    if (g.principalType === "user" && ownershipRoles.includes(g.role))
      owning.set(g.principalId, [...(owning.get(g.principalId) ?? []), g.role]);
  for (const [id, roles] of owning) {
    const u = user(id);
    if (u.member === false) {
      if (!leavers.has(id))
        add(
          "ownerNotMember",
          `${roles.join(", ")} ${id} of ${what} is not a member of the environment; offboard them (POST .../offboardings) or add them back with a maker role`,
          id,
        );
    } else if (u.enabled && u.maker === false) {
      add(
        "ownerWithoutMakerRole",
        `${roles.join(", ")} ${id} of ${what} holds neither EnvironmentMaker nor SystemAdministrator; assign a maker role, or give them run-only or viewer access instead`,
        id,
      );
    }
  }
}

/**
 * Sensitive environments: every owner or co-owner added (granted, or given by reassignment) after
 * `since` (the previous audit's start) and up to `until` (this one's), from a page of the change log
 * read newest first. `reachedSince`: the page went back to `since`, so older pages need no reading.
 */
export function ownersAddedFindings(
  entries: readonly ChangeEntry[],
  since: string,
  until: string,
): { findings: Finding[]; reachedSince: boolean } {
  const findings: Finding[] = [];
  for (const e of entries) {
    if (e.at <= since) return { findings, reachedSince: true };
    if (e.at > until || !addsOwner(e)) continue;
    findings.push({
      rule: "ownerAddedSinceLastAudit",
      severity: severityOf.ownerAddedSinceLastAudit,
      ...(e.resourceId ? { resourceId: e.resourceId } : {}),
      ...(e.principal ? { principalId: e.principal.id } : {}),
      detail: clip(
        `${e.principal?.type ?? "principal"} ${e.principal?.id ?? "?"} was made ${e.role ?? "owner"} of ${e.resourceId ?? "a resource"} by ${e.actorId} at ${e.at} (${e.action})`,
      ),
    });
  }
  return { findings, reachedSince: false };
}

const addsOwner = (e: ChangeEntry) =>
  (e.action === "grant" || e.action === "reassign" || e.action === "offboard" || e.action === "owner.changed") &&
  e.role !== undefined &&
  ownershipRoles.includes(e.role);

/** Findings' details fit a stored finding (1,000 characters). */
const clip = (s: string) => (s.length > 1000 ? `${s.slice(0, 997)}...` : s);
