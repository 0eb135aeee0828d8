import { defineHttp } from "../shared/adapters/http/define.js";
import { envParams } from "../shared/model/api.js";
import { requestAudit } from "../shared/usecases/audits/request.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { auditAccepted } from "../shared/model/responses.js";

/** What the request spends on the audit itself; anything longer is continued by the auditRunner timer. */
const budgetMs = 20_000;

export const handler = defineHttp(
  {
    name: "runAudit",
    route: "environments/{envId}/audits",
    method: "POST",
    idempotent: true,
    summary: "Starts a compliance audit of the environment now.",
    params: envParams,
    responses: { 202: { description: "the audit's id; read it with GET .../audits/{auditId}", schema: auditAccepted } },
  },
  async ({ services, caller, params, context }) => {
    const r = await requestAudit(services.caps, caller, params.envId, {
      budgetMs,
      progress: (line) => context.log(line),
    });
    return typedJson(
      auditAccepted,
      202,
      { auditId: r.auditId },
      { location: `/api/environments/${params.envId}/audits/${r.auditId}` },
    );
  },
);
