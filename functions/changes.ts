import { defineHttp } from "../shared/adapters/http/define.js";
import { changesQuery, envParams } from "../shared/model/api.js";
import { listChanges } from "../shared/usecases/changes.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { changesPage } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "changes",
    route: "environments/{envId}/changes",
    method: "GET",
    summary: "The change log, newest first, paged; filtered by resource or principal.",
    params: envParams,
    query: changesQuery,
    responses: { 200: { description: "a page of changes", schema: changesPage } },
  },
  async ({ services, caller, params, query }) =>
    typedJson(changesPage, 200, await listChanges(services.caps, caller, params.envId, query)),
);
