import { defineHttp } from "../shared/adapters/http/define.js";
import { auditParams, auditReportQuery } from "../shared/model/api.js";
import { findingsCsv, getAudit } from "../shared/usecases/audits/report.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { auditReportView, findingsCsvSchema } from "../shared/model/responses.js";

/** CSV when the caller asks for it before (or instead of) JSON. */
function wantsCsv(accept: string | null): boolean {
  const types = (accept ?? "").split(",").map((t) => t.split(";")[0]!.trim().toLowerCase());
  const csv = types.indexOf("text/csv");
  const jsonAt = types.findIndex((t) => t === "application/json" || t === "application/*");
  return csv !== -1 && (jsonAt === -1 || csv < jsonAt);
}

export const handler = defineHttp(
  {
    name: "getAudit",
    route: "environments/{envId}/audits/{auditId}",
    method: "GET",
    summary:
      "An audit's status, stats, findings and inventory, a page at a time (Accept: text/csv for the findings as CSV).",
    params: auditParams,
    query: auditReportQuery,
    responses: {
      200: { description: "the audit report", schema: auditReportView, alsoAs: { "text/csv": findingsCsvSchema } },
    },
  },
  async ({ services, caller, params, query, request }) => {
    const report = await getAudit(
      services.caps,
      caller,
      params.envId,
      params.auditId,
      query.inventoryContinuationToken,
    );
    if (!wantsCsv(request.headers.get("accept"))) return typedJson(auditReportView, 200, report);
    return {
      status: 200,
      headers: {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": `attachment; filename="audit-${params.envId}-${params.auditId}.csv"`,
        "x-audit-status": report.status,
      },
      body: findingsCsv(report.findings),
    };
  },
);
