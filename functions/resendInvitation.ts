import { defineHttp } from "../shared/adapters/http/define.js";
import { resourceParams } from "../shared/model/api.js";
import { idSchema } from "../shared/model/records.js";
import { invitationSettings } from "../shared/invitations/links.js";
import { resendInvitation } from "../shared/usecases/invitations.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { invitationResent } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "resendInvitation",
    route: "environments/{envId}/resources/{resourceId}/invitations/{invitationId}/resend",
    method: "POST",
    summary: "Emails an invitation again with a new link; the old link stops working.",
    params: resourceParams.extend({ invitationId: idSchema }),
    responses: { 200: { description: "queued again with a new link", schema: invitationResent } },
  },
  async ({ services, caller, params }) => {
    const invitation = await resendInvitation(
      { ...services.caps, invitations: invitationSettings(services.settings) },
      caller,
      params.envId,
      params.resourceId,
      params.invitationId,
    );
    return typedJson(invitationResent, 200, { invitation });
  },
);
