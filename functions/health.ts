import { defineHttp, json } from "../shared/adapters/http/define.js";
import { problem } from "../shared/adapters/http/problem.js";

export const handler = defineHttp(
  {
    name: "health",
    route: "health",
    method: "GET",
    auth: false,
    summary: "Liveness: 200 when storage answers, 503 otherwise.",
    responses: { 200: { description: "storage answers" } },
  },
  async ({ services }) => {
    try {
      await services.caps.repo.rows.ping();
      return json(200, { status: "ok" });
    } catch {
      return problem(503, "storage is not answering");
    }
  },
);
