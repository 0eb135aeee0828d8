import { appContract } from "../../appContract.js";
import { renderAuditReportEmail } from "../../emails/auditReport.js";
import { reportLink } from "../../reports/token.js";
import { auditRules, severities } from "../../model/audits.js";
import { ruleTitles, severityOf } from "../../rules/audit.js";
import { emailOperationId, enabledAdmins, joinUrl, type EmailJobHandler } from "./handler.js";

const worstShown = 10;

/**
 * The mailer's handler for `auditReport` jobs: one email to the environment's enabled
 * SystemAdministrators with the finished audit's counts per rule (worst first), its worst findings
 * and the link to the full report.
 */
export const prepareAuditReportEmail: EmailJobHandler<"auditReport"> = async (deps, job) => {
  const [env, got, members] = await Promise.all([
    deps.repo.getEnvironment(job.envId),
    deps.audits.getRun(job.envId, job.auditId),
    deps.repo.environmentMembers(job.envId),
  ]);
  if (!env) return { skip: `environment ${job.envId} no longer exists` };
  if (!got) return { skip: `audit ${job.auditId} no longer exists` };
  const run = got.run;
  if (run.status !== "done" || !run.startedAt || !run.finishedAt)
    return { skip: `audit ${job.auditId} is ${run.status}, not done` };
  const admins = await enabledAdmins(deps, members);
  if (admins.length === 0) {
    deps.log(`audit ${job.auditId}: environment ${job.envId} has no enabled SystemAdministrator to send the report to`);
    return { skip: "the environment has no enabled admin to send the report to" };
  }
  const counts = [...auditRules]
    .map((rule) => ({ rule, title: ruleTitles[rule], severity: severityOf[rule], count: run.stats.byRule[rule] ?? 0 }))
    .sort(
      (a, b) =>
        severities.indexOf(a.severity) - severities.indexOf(b.severity) ||
        b.count - a.count ||
        auditRules.indexOf(a.rule) - auditRules.indexOf(b.rule),
    );
  const rendered = renderAuditReportEmail({
    environmentName: env.displayName,
    auditId: run.auditId,
    trigger: run.trigger,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    resources: run.stats.resources,
    grants: run.stats.grants,
    counts,
    worst: run.top.slice(0, worstShown),
    totalFindings: run.stats.findings,
    link: await reportLink(
      deps.invitations.signingKey,
      deps.invitations.publicBaseUrl,
      { envId: run.envId, auditId: run.auditId, finishedAt: run.finishedAt },
      deps.reportTtlDays ?? appContract.settings.REPORT_TTL_DAYS.default,
    ),
    apiLink: joinUrl(
      deps.invitations.publicBaseUrl,
      `api/environments/${encodeURIComponent(run.envId)}/audits/${encodeURIComponent(run.auditId)}`,
    ),
  });
  return {
    envId: job.envId,
    email: {
      operationId: emailOperationId(`auditReport|${job.envId}|${job.auditId}`),
      to: admins.map((a) => ({ address: a.email, displayName: a.displayName })),
      ...rendered,
    },
    recordSent: async () => undefined,
    recordFailed: async (reason) =>
      deps.log(`the report of audit ${job.auditId} of ${job.envId} could not be sent: ${reason}`),
  };
};
