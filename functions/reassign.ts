import { defineHttp } from "../shared/adapters/http/define.js";
import { envParams, reassignBody } from "../shared/model/api.js";
import { reassign } from "../shared/usecases/reassign.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { reassignResult } from "../shared/model/responses.js";

/** Well inside the HTTP front end's 230 s: a run that needs longer answers 202 and continues when posted again. */
const budgetMs = 100_000;

export const handler = defineHttp(
  {
    name: "reassign",
    route: "environments/{envId}/reassignments",
    method: "POST",
    idempotent: { continueStatuses: [202] },
    summary: "Reassigns every record of a leaving user to another user (dryRun: only says what would happen).",
    params: envParams,
    body: reassignBody,
    responses: {
      200: { description: "done (or the dry run's plan)", schema: reassignResult },
      202: { description: "time ran out; post the same request again to continue", schema: reassignResult },
    },
  },
  async ({ services, caller, params, body, context }) => {
    const r = await reassign({ ...services.caps, log: (m) => context.warn(m) }, caller, params.envId, body, {
      budgetMs,
    });
    return typedJson(reassignResult, r.status === "running" ? 202 : 200, r);
  },
);
