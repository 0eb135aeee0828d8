import { defineHttp } from "../shared/adapters/http/define.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { connectionBody, connectionParams, connectionTakeoverView } from "../shared/model/api.js";
import { takeOverConnection } from "../shared/usecases/connectionTakeover.js";

export const handler = defineHttp(
  {
    name: "putConnection",
    route: "environments/{envId}/resources/{resourceId}/connections/{connectionId}",
    method: "PUT",
    summary:
      "An owner of the flow puts their own credentials on a connection whose creator is no longer an enabled owner of it.",
    params: connectionParams,
    body: connectionBody,
    responses: { 200: { description: "the connection, taken over, and the flow", schema: connectionTakeoverView } },
  },
  async ({ services, caller, params, body }) =>
    typedJson(
      connectionTakeoverView,
      200,
      await takeOverConnection(
        services.caps,
        caller,
        params.envId,
        params.resourceId,
        params.connectionId,
        body.ownerId,
      ),
    ),
);
