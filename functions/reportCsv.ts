import { z } from "zod";
import { defineHttp } from "../shared/adapters/http/define.js";
import { findingsCsvSchema, htmlPage } from "../shared/model/responses.js";
import { errorPage } from "../shared/adapters/http/html.js";
import { reportQueryPage, reportRefusalPage } from "../shared/adapters/http/reportPages.js";
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
      400: {
        description: "not a valid link, or a bad filter (says which)",
        contentType: "text/html",
        schema: htmlPage,
      },
      404: { description: "the audit no longer exists", contentType: "text/html", schema: htmlPage },
      410: { description: "the link has expired", contentType: "text/html", schema: htmlPage },
      503: { description: "storage is busy; try again in a moment", contentType: "text/html", schema: htmlPage },
      500: { description: "an unexpected error, logged", contentType: "text/html", schema: htmlPage },
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
