import { renderClaimEmail, renderClaimEscalationEmail } from "../../emails/claim.js";
import { sharingPageUrl } from "../../invitations/links.js";
import { signClaimToken } from "../../claims/token.js";
import { ClaimRows } from "../../store/claimRows.js";
import { emailOperationId, enabledAdmins, joinUrl, type EmailJobHandler } from "./handler.js";

const dayMs = 86_400_000;
/** As `claimLinkDays` in `usecases/claims.ts` (not imported: a kind imports only `handler.ts` of the mailer). */
const linkDays = 90;

/**
 * A candidate's claim link. Skipped when the claim was replaced, is no longer open, or the user is
 * no candidate or not enabled; the operation id names the claim and the candidate, so a job relayed
 * twice (a crash, the sweeper) sends one email.
 */
export const prepareClaimEmail: EmailJobHandler<"claim"> = async (deps, job) => {
  const [env, claim, state, user] = await Promise.all([
    deps.repo.getEnvironment(job.envId),
    new ClaimRows(deps.repo).get(job.envId, job.resourceId),
    deps.repo.resourceStateFor(job.envId, job.resourceId, []),
    deps.repo.getUser(job.userId),
  ]);
  if (!env) return { skip: `environment ${job.envId} no longer exists` };
  if (!state) return { skip: `resource ${job.resourceId} no longer exists` };
  if (claim?.claimId !== job.claimId) return { skip: `claim ${job.claimId} was replaced or removed` };
  if (claim.status !== "open") return { skip: `claim ${job.claimId} is already ${claim.status}` };
  if (!claim.candidates.some((c) => c.userId === job.userId)) return { skip: `${job.userId} is no candidate` };
  if (!user?.enabled) return { skip: `the candidate ${job.userId} is not an enabled user` };
  const vacant = await deps.repo.getUser(claim.vacantOwnerId);
  const token = await signClaimToken(
    deps.invitations.signingKey,
    {
      envId: job.envId,
      resourceId: job.resourceId,
      claimId: job.claimId,
      userId: job.userId,
      expiresAt: new Date(new Date(claim.createdAt).getTime() + linkDays * dayMs),
    },
    deps.clock(),
  );
  const r = state.resource;
  const rendered = renderClaimEmail({
    environmentName: env.displayName,
    resource: { name: r.displayName, kind: r.kind },
    candidateName: user.displayName,
    vacantOwnerName: vacant?.displayName ?? claim.vacantOwnerId,
    link: joinUrl(deps.invitations.publicBaseUrl, `api/claims/${encodeURIComponent(token)}`),
    deadline: claim.deadline,
  });
  return {
    envId: job.envId,
    email: {
      operationId: emailOperationId(`claim|${job.claimId}|${job.userId}`),
      to: [{ address: user.email, displayName: user.displayName }],
      ...rendered,
    },
    recordSent: async () => undefined,
    recordFailed: async (reason) =>
      deps.log(
        `claim email of ${job.envId}/${job.resourceId} (claim ${job.claimId}) to ${job.userId} failed: ${reason}`,
      ),
  };
};

/** The admins' email when a claim's deadline passed unclaimed; once per claim (its operation id). */
export const prepareClaimEscalationEmail: EmailJobHandler<"claimEscalation"> = async (deps, job) => {
  const [env, claim, state, members] = await Promise.all([
    deps.repo.getEnvironment(job.envId),
    new ClaimRows(deps.repo).get(job.envId, job.resourceId),
    deps.repo.resourceStateFor(job.envId, job.resourceId, []),
    deps.repo.environmentMembers(job.envId),
  ]);
  if (!env) return { skip: `environment ${job.envId} no longer exists` };
  if (!state) return { skip: `resource ${job.resourceId} no longer exists` };
  if (claim?.claimId !== job.claimId || claim.status !== "open")
    return { skip: `claim ${job.claimId} was claimed or replaced meanwhile` };
  if (state.resource.ownerId !== claim.vacantOwnerId) return { skip: `${job.resourceId} has an owner again` };
  const admins = await enabledAdmins(deps, members);
  if (admins.length === 0) {
    deps.log(`claim escalation ${job.claimId}: environment ${job.envId} has no enabled SystemAdministrator`);
    return { skip: "the environment has no enabled admin to tell" };
  }
  const vacant = await deps.repo.getUser(claim.vacantOwnerId);
  const rendered = renderClaimEscalationEmail({
    environmentName: env.displayName,
    resource: { name: state.resource.displayName, kind: state.resource.kind },
    vacantOwnerName: vacant?.displayName ?? claim.vacantOwnerId,
    candidates: claim.candidates.length,
    since: claim.createdAt,
    link: sharingPageUrl(deps.invitations.appBaseUrl, job.envId, job.resourceId),
  });
  return {
    envId: job.envId,
    email: {
      operationId: emailOperationId(`claimEscalation|${job.claimId}`),
      to: admins.map((a) => ({ address: a.email, displayName: a.displayName })),
      ...rendered,
    },
    recordSent: async () => undefined,
    recordFailed: async (reason) => deps.log(`claim escalation ${job.claimId} for ${job.envId} failed: ${reason}`),
  };
};
