import { z } from "zod";
import { membershipSchema, tenantUserSchema, type TenantUser } from "./records.js";

/**
 * What the environment's directory partition keeps of a member's tenant profile, so an audit reads
 * every member of an environment by range instead of each profile by itself. It rides on the
 * `member|{userId}` row beside the membership, is written by `putMembership`, and follows changes of
 * the profile through the outbox (`memberFacts` items).
 */
export const memberFactsSchema = z.object({
  enabled: z.boolean(),
  userType: tenantUserSchema.shape.userType,
});
export type MemberFacts = z.infer<typeof memberFactsSchema>;

export const factsOf = (user: TenantUser): MemberFacts => ({ enabled: user.enabled, userType: user.userType });

export const sameFacts = (a: MemberFacts, b: MemberFacts) => a.enabled === b.enabled && a.userType === b.userType;

/**
 * The directory's member row. `facts` is absent on rows written before the facts were kept there;
 * readers of the membership alone decode the row with `membershipSchema`, which drops it.
 */
export const directoryMemberSchema = membershipSchema.extend({ facts: memberFactsSchema.optional() });
export type DirectoryMember = z.infer<typeof directoryMemberSchema>;
