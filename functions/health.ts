import { defineHttp } from "../shared/adapters/http/define.js";
import { problem } from "../shared/adapters/http/problem.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { healthView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "health",
    route: "health",
    method: "GET",
    auth: false,
    summary: "Liveness: 200 when storage answers, 503 otherwise.",
    responses: { 200: { description: "storage answers", schema: healthView } },
  },
  async ({ services }) => {
    try {
      await services.caps.repo.rows.ping();
      return typedJson(healthView, 200, { status: "ok" });
    } catch {
      return problem(503, "storage is not answering");
    }
  },
);
