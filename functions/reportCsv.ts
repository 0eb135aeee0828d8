import { z } from "zod";
import { defineHttp } from "../shared/adapters/http/define.js";
import { findingsCsvSchema } from "../shared/model/responses.js";
import { errorPage } from "../shared/adapters/http/html.js";
import { reportQueryPage, reportRefusalPage, reportRefusalResponses } from "../shared/adapters/http/reportPages.js";
import { findingsCsv } from "../shared/usecases/audits/report.js";
import { parseReportQuery, reportFindings } from "../shared/usecases/audits/reportPage.js";

const params = z.object({ token: z.string() });
const query = z.object({ rule: z.string().optional(), severity: z.string().optional() });

export const handler = defineHttp(
  {
    name: "reportCsv",
    route: "reports/{token}/findings.csv",
    method: "GET",
    auth: false,
    summary:
      "The findings of the audit a report link names, as CSV, filtered by rule and severity as the page is (docs/reports.md).",
    params,
    query,
    responses: {
      200: { description: "the findings, worst first", contentType: "text/csv", schema: findingsCsvSchema },
      ...reportRefusalResponses,
    },
  },
  async ({ services, params, query, context }) => {
    try {
      const parsed = parseReportQuery(query as Record<string, string>);
      if (!parsed.ok) return reportQueryPage(parsed.problems);
      const found = await reportFindings(
        services.caps,
        services.settings.INVITATION_SIGNING_KEY,
        params.token,
        parsed.query.filter,
      );
      if (!found.ok) return reportRefusalPage(found);
      return {
        status: 200,
        headers: {
          "content-type": "text/csv; charset=utf-8",
          "content-disposition": `attachment; filename="audit-${found.run.envId}-${found.run.auditId}.csv"`,
          "cache-control": "no-store",
          "referrer-policy": "no-referrer",
          "x-content-type-options": "nosniff",
        },
        body: findingsCsv(found.findings),
      };
    } catch (e) {
      return errorPage(e, (m) => context.error(m));
    }
  },
);
