import { prepareAuditReportEmail } from "./auditReport.js";
import { prepareClaimEmail, prepareClaimEscalationEmail } from "./claim.js";
import { prepareCopyEmail } from "./copy.js";
import type { EmailJobHandlers } from "./handler.js";
import { prepareInvitationEmail } from "./invitation.js";
import { prepareNewOwnerEmail } from "./newOwner.js";
import { prepareOwnerAlertEmail } from "./ownerAlert.js";
import { prepareGrantExpiryEmail } from "./grantExpiry.js";
import { prepareReviewRequestEmail, prepareReviewSummaryEmail } from "./reviews.js";

/**
 * The handler of each job kind: the one module that imports every kind. A kind imports only
 * `handler.ts`, never this table, so the table is whole whichever module loads first.
 */
export const emailJobHandlers: EmailJobHandlers = {
  invitation: prepareInvitationEmail,
  ownerAlert: prepareOwnerAlertEmail,
  copy: prepareCopyEmail,
  auditReport: prepareAuditReportEmail,
  newOwner: prepareNewOwnerEmail,
  claim: prepareClaimEmail,
  claimEscalation: prepareClaimEscalationEmail,
  grantExpiry: prepareGrantExpiryEmail,
  reviewRequest: prepareReviewRequestEmail,
  reviewSummary: prepareReviewSummaryEmail,
};
