import { defineHttp, noContent } from "../shared/adapters/http/define.js";
import { recordingParams } from "../shared/model/api.js";
import { deleteRecording } from "../shared/usecases/resources.js";

export const handler = defineHttp(
  {
    name: "deleteRecording",
    route: "environments/{envId}/resources/{resourceId}/recordings/{recordingId}",
    method: "DELETE",
    summary: "Deletes a task mining recording.",
    params: recordingParams,
    responses: { 204: { description: "deleted" } },
  },
  async ({ services, caller, params }) => {
    await deleteRecording(services.caps, caller, params.envId, params.resourceId, params.recordingId);
    return noContent();
  },
);
