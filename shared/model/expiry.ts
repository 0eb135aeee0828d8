import { z } from "zod";
import { idSchema, principalRefSchema, roleSchema } from "./records.js";

/** What an expiry row asks the timer to do when it falls due (docs/expiry.md). */
export const expiryStepSchema = z.enum(["remind14", "remind1", "expire"]);
export type ExpiryStep = z.infer<typeof expiryStepSchema>;

/** Lead time of each reminder before the expiry. */
export const reminderLeadMs: Record<Exclude<ExpiryStep, "expire">, number> = {
  remind14: 14 * 86_400_000,
  remind1: 86_400_000,
};

/**
 * One due step of one grant's expiry. The grant names its own `expiresAt`; a row whose `expiresAt`
 * no longer matches the grant's (extended, shortened, revoked, shared again) does nothing when due.
 */
export const expiryRowSchema = z.object({
  step: expiryStepSchema,
  dueAt: z.string().datetime(),
  envId: idSchema,
  resourceId: idSchema,
  principal: principalRefSchema,
  role: roleSchema,
  expiresAt: z.string().datetime(),
});
export type ExpiryRow = z.infer<typeof expiryRowSchema>;

/** The steps a grant expiring at `expiresAt` needs, set at `setAt`: reminders whose lead the grant is shorter than are skipped. */
export function expirySteps(base: Omit<ExpiryRow, "step" | "dueAt">, setAt: Date): ExpiryRow[] {
  const end = Date.parse(base.expiresAt);
  const rows: ExpiryRow[] = [];
  for (const step of ["remind14", "remind1"] as const) {
    const due = end - reminderLeadMs[step];
    if (due > setAt.getTime()) rows.push({ ...base, step, dueAt: new Date(due).toISOString() });
  }
  rows.push({ ...base, step: "expire", dueAt: new Date(end).toISOString() });
  return rows;
}
