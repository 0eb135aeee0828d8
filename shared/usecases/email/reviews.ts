import { renderReviewRequestEmail, renderReviewSummaryEmail } from "../../emails/reviews.js";
import { signReviewToken } from "../../reviews/token.js";
import { mayReviewAs } from "../reviews/decisions.js";
import { emailOperationId, enabledAdmins, joinUrl, type EmailJobHandler } from "./handler.js";

/** Items counted for the email: one storage page of the reviewer's index; beyond it, "more than". */
const countedItems = 1000;

/**
 * A reviewer's link to their items (docs/reviews.md, "Lifecycle"). Skipped when the instance is
 * over or completing, the person is not (or no longer) allowed to decide under the key, or (a
 * reminder) the key has no undecided item left. The link is signed for the person and the key and
 * expires when the instance ends. The operation id names the instance, the key, the person and the
 * step, so a job queued again (a runner's repeated page, a crash) sends one email.
 */
export const prepareReviewRequestEmail: EmailJobHandler<"reviewRequest"> = async (deps, job) => {
  const [env, got, user] = await Promise.all([
    deps.repo.getEnvironment(job.envId),
    deps.reviews.getRun(job.envId, job.reviewId, job.instanceId),
    deps.repo.getUser(job.userId),
  ]);
  if (!env) return { skip: `environment ${job.envId} no longer exists` };
  if (!got) return { skip: `review instance ${job.instanceId} no longer exists` };
  const run = got.run;
  const now = deps.clock();
  if (run.status !== "inProgress" || now >= new Date(run.endsAt) || !["notify", "open", "remind"].includes(run.phase))
    return { skip: `review instance ${job.instanceId} is over (${run.status}, ${run.phase})` };
  if (!user?.enabled) return { skip: `the reviewer ${job.userId} is not an enabled user` };
  const key = job.reviewerKey;
  const may = await mayReviewAs(deps, job.envId, run, key, job.userId);
  if (!may.ok) return { skip: may.why };
  // Undecided rows come first in a reviewer's index: one page says how many wait (or that more do).
  const page = await deps.reviews.reviewerPage(job.envId, job.reviewId, job.instanceId, key, undefined, countedItems);
  const undecided = page.items.filter((i) => !i.decision).length;
  if (undecided === 0 && job.step === "reminder") return { skip: `${key} has no undecided item left` };
  if (page.items.length === 0) return { skip: `${key} has no item` };
  const token = await signReviewToken(
    deps.invitations.signingKey,
    {
      env: job.envId,
      review: job.reviewId,
      instance: job.instanceId,
      reviewer: key,
      userId: job.userId,
      expiresAt: new Date(run.endsAt),
    },
    now,
  );
  const items = job.step === "reminder" ? undecided : page.items.length;
  const rendered = renderReviewRequestEmail({
    environmentName: env.displayName,
    reviewName: run.definition.displayName,
    reviewerName: user.displayName,
    items,
    moreItems: page.continuation !== undefined && items === page.items.length,
    deadline: run.endsAt,
    link: joinUrl(deps.invitations.publicBaseUrl, `api/review-pages/${encodeURIComponent(token)}`),
    step: job.step,
    defaultDecision: run.definition.defaultDecision ?? "none",
    justificationRequired: run.definition.justificationRequired ?? false,
  });
  const name = [job.envId, job.reviewId, job.instanceId, key, job.userId, job.step].join("|");
  return {
    envId: job.envId,
    email: {
      operationId: emailOperationId(`reviewRequest|${name}`),
      to: [{ address: user.email, displayName: user.displayName }],
      ...rendered,
    },
    recordSent: async () => undefined,
    recordFailed: async (reason) => deps.log(`review email ${name} could not be sent: ${reason}`),
  };
};

/** The admins' summary of a finished instance: counts, defaults, apply outcomes; once per instance. */
export const prepareReviewSummaryEmail: EmailJobHandler<"reviewSummary"> = async (deps, job) => {
  const [env, got, members] = await Promise.all([
    deps.repo.getEnvironment(job.envId),
    deps.reviews.getRun(job.envId, job.reviewId, job.instanceId),
    deps.repo.environmentMembers(job.envId),
  ]);
  if (!env) return { skip: `environment ${job.envId} no longer exists` };
  if (!got) return { skip: `review instance ${job.instanceId} no longer exists` };
  const run = got.run;
  if (!run.finishedAt || run.status === "inProgress")
    return { skip: `review instance ${job.instanceId} is not finished` };
  const admins = await enabledAdmins(deps, members);
  if (admins.length === 0) {
    deps.log(`review ${job.reviewId}/${job.instanceId}: environment ${job.envId} has no enabled SystemAdministrator`);
    return { skip: "the environment has no enabled admin to send the summary to" };
  }
  const rendered = renderReviewSummaryEmail({
    environmentName: env.displayName,
    reviewName: run.definition.displayName,
    instanceId: run.instanceId,
    createdAt: run.createdAt,
    completedAt: run.completedAt ?? run.finishedAt,
    counts: run.counts,
    defaulted: run.defaulted ?? 0,
    defaultDecision: run.definition.defaultDecision ?? "none",
    applied: run.status === "applied" ? run.applyCounts : undefined,
    link: joinUrl(
      deps.invitations.publicBaseUrl,
      `api/environments/${encodeURIComponent(run.envId)}/reviews/${encodeURIComponent(run.reviewId)}/instances/${encodeURIComponent(run.instanceId)}`,
    ),
  });
  const name = [job.envId, job.reviewId, job.instanceId].join("|");
  return {
    envId: job.envId,
    email: {
      operationId: emailOperationId(`reviewSummary|${name}`),
      to: admins.map((a) => ({ address: a.email, displayName: a.displayName })),
      ...rendered,
    },
    recordSent: async () => undefined,
    recordFailed: async (reason) => deps.log(`review summary ${name} could not be sent: ${reason}`),
  };
};
