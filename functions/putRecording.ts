import { defineHttp } from "../shared/adapters/http/define.js";
import { recordingBody, recordingParams } from "../shared/model/api.js";
import { putRecording } from "../shared/usecases/resources.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { recordingView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "putRecording",
    route: "environments/{envId}/resources/{resourceId}/recordings/{recordingId}",
    method: "PUT",
    summary: "Adds or relabels a task mining recording.",
    params: recordingParams,
    body: recordingBody,
    responses: {
      200: { description: "relabelled", schema: recordingView },
      201: { description: "added", schema: recordingView },
    },
  },
  async ({ services, caller, params, body }) => {
    const r = await putRecording(
      services.caps,
      caller,
      params.envId,
      params.resourceId,
      params.recordingId,
      body.label,
    );
    return typedJson(recordingView, r.created ? 201 : 200, r.recording);
  },
);
