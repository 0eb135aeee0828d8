/**
 * Time-bound access (sharing-rules.md): the environment's caps on how long a grant may last, and the
 * grants that never expire. Pure, so the rules are tested on their own (test/unit/expiry.test.ts).
 */

export interface CapFacts {
  maxGrantDays?: number | undefined;
  guestMaxGrantDays?: number | undefined;
}

export interface GrantTarget {
  /** A user whose tenant profile says `userType: "guest"`; groups and lists are never guests. */
  guest: boolean;
  /** The creator's or the primary owner's owner grant: it never expires and no cap applies. */
  permanentOwner: boolean;
}

export interface Cap {
  setting: "maxGrantDays" | "guestMaxGrantDays";
  days: number;
}

/** The cap that applies to a grant, if any: a guest's own cap where the environment sets one, else the general one. */
export function capFor(env: CapFacts, target: GrantTarget): Cap | undefined {
  if (target.permanentOwner) return undefined;
  if (target.guest && env.guestMaxGrantDays !== undefined)
    return { setting: "guestMaxGrantDays", days: env.guestMaxGrantDays };
  if (env.maxGrantDays !== undefined) return { setting: "maxGrantDays", days: env.maxGrantDays };
  return undefined;
}

export type ExpiryVerdict =
  { ok: true } | { ok: false; status: 400; message: string } | { ok: false; status: 422; message: string };

/**
 * Whether a grant may carry `expiresAt` (undefined or null: none) at `now`: in the future (400), not
 * on a permanent owner grant (422), within the cap and present where a cap applies (422 naming it).
 */
export function judgeExpiry(
  env: CapFacts,
  target: GrantTarget,
  expiresAt: string | null | undefined,
  now: Date,
): ExpiryVerdict {
  if (expiresAt != null && Date.parse(expiresAt) <= now.getTime())
    return { ok: false, status: 400, message: "must be in the future" };
  if (target.permanentOwner) {
    return expiresAt == null
      ? { ok: true }
      : {
          ok: false,
          status: 422,
          message: "the owner grant of the resource's creator or primary owner can't expire",
        };
  }
  const cap = capFor(env, target);
  if (!cap) return { ok: true };
  if (expiresAt == null)
    return {
      ok: false,
      status: 422,
      message: `the environment caps ${target.guest && cap.setting === "guestMaxGrantDays" ? "guests' " : ""}grants at ${cap.days} day(s) (${cap.setting}): give expiresAt`,
    };
  if (Date.parse(expiresAt) > now.getTime() + cap.days * 86_400_000)
    return {
      ok: false,
      status: 422,
      message: `expiresAt is more than ${cap.days} day(s) ahead, beyond the environment's ${cap.setting} (${cap.days})`,
    };
  return { ok: true };
}
