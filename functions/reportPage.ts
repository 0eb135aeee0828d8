import { z } from "zod";
import { defineHttp } from "../shared/adapters/http/define.js";
import { htmlPage } from "../shared/model/responses.js";
import { errorPage } from "../shared/adapters/http/html.js";
import {
  reportPage,
  reportQueryPage,
  reportRefusalPage,
  reportRefusalResponses,
} from "../shared/adapters/http/reportPages.js";
import { openReport, parseReportQuery } from "../shared/usecases/audits/reportPage.js";

// Any text: a garbled token or filter gets an HTML page saying so, not a problem+json.
const params = z.object({ token: z.string() });
const query = z.object({
  rule: z.string().optional(),
  severity: z.string().optional(),
  findings: z.string().optional(),
  inventory: z.string().optional(),
});

export const handler = defineHttp(
  {
    name: "reportPage",
    route: "reports/{token}",
    method: "GET",
    auth: false,
    summary:
      "The page an audit email links to (docs/reports.md): summary, findings per rule and trend charts, the findings (filter by rule and severity) and the inventory, paged. Changes nothing.",
    params,
    query,
    responses: {
      200: { description: "the report", contentType: "text/html", schema: htmlPage },
      ...reportRefusalResponses,
    },
  },
  async ({ services, params, query, context }) => {
    try {
      const parsed = parseReportQuery(query as Record<string, string>);
      if (!parsed.ok) return reportQueryPage(parsed.problems);
      const opened = await openReport(
        services.caps,
        services.settings.INVITATION_SIGNING_KEY,
        params.token,
        parsed.query,
      );
      return opened.ok ? await reportPage(opened.page, params.token) : reportRefusalPage(opened);
    } catch (e) {
      return errorPage(e, (m) => context.error(m));
    }
  },
);
