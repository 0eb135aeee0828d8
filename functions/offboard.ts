import { defineHttp } from "../shared/adapters/http/define.js";
import { envParams, offboardBody } from "../shared/model/api.js";
import { offboard } from "../shared/usecases/offboarding.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { offboardResult } from "../shared/model/responses.js";

/** Well inside the HTTP front end's 230 s: a run that needs longer answers 202 and continues when posted again. */
const budgetMs = 100_000;

export const handler = defineHttp(
  {
    name: "offboard",
    route: "environments/{envId}/offboardings",
    method: "POST",
    idempotent: { continueStatuses: [202] },
    summary:
      "Offboards a leaver: revokes every grant they hold in the environment and passes what they own to the successor chain (dryRun: only says what would happen).",
    params: envParams,
    body: offboardBody,
    responses: {
      200: { description: "done (or the dry run's plan)", schema: offboardResult },
      202: {
        description: "time ran out; post the same request again to continue (same offboardingId)",
        schema: offboardResult,
      },
    },
  },
  async ({ services, caller, params, body, context }) => {
    const r = await offboard({ ...services.caps, log: (m) => context.warn(m) }, caller, params.envId, body, {
      budgetMs,
    });
    return typedJson(offboardResult, r.status === "running" ? 202 : 200, r);
  },
);
