import type { ChangeEntry } from "../model/records.js";
import type { CloudEvent, WebhookEventType } from "../model/webhooks.js";

/**
 * The event type each change log action is delivered as. Actions not named here (directory
 * changes, settings) raise no event. A review's revoke (`review-deny`) is a revoke to receivers;
 * `review.completed` is one finished review instance (docs/reviews.md).
 */
export const eventTypeOfAction: Partial<Record<ChangeEntry["action"], WebhookEventType>> = {
  grant: "sharing.grant.created",
  revoke: "sharing.grant.revoked",
  "invitation.accepted": "sharing.invitation.accepted",
  "resource.registered": "sharing.resource.created",
  "resource.deleted": "sharing.resource.deleted",
  "owner.changed": "sharing.owner.changed",
  "copy.sent": "sharing.copy.sent",
  offboard: "sharing.user.offboarded",
  "audit.completed": "sharing.audit.completed",
  "owner.claimed": "sharing.owner.changed",
  // Time-bound grants (docs/expiry.md): the removal at expiry and each reminder before it.
  expire: "sharing.grant.expired",
  expiring: "sharing.grant.expiring",
  // Access reviews (docs/reviews.md): a denial applied, and a finished instance.
  "review-deny": "sharing.grant.revoked",
  "review.completed": "sharing.review.completed",
};

const subjectFolder = { user: "users", group: "groups", sharePointList: "lists" } as const;

/**
 * The CloudEvents 1.0 event for a committed change log entry of `envId`, or undefined when the
 * action raises none. Its `id` is the entry's id, so the event built again from the same entry (a
 * relay that runs twice, a retry) is the same event, and receivers drop the repeat.
 */
export function cloudEventOf(envId: string, entry: ChangeEntry): CloudEvent | undefined {
  const type = eventTypeOfAction[entry.action];
  if (!type) return undefined;
  // An offboarding logs each resource it changed and, at the end, its summary: the user was
  // offboarded once, so only the summary (the entry naming no resource) is the event.
  if (entry.action === "offboard" && entry.resourceId !== undefined) return undefined;
  const subject = entry.resourceId
    ? `resources/${entry.resourceId}`
    : entry.principal
      ? `${subjectFolder[entry.principal.type]}/${entry.principal.id}`
      : entry.auditId
        ? `audits/${entry.auditId}`
        : entry.reviewId && entry.instanceId
          ? `reviews/${entry.reviewId}/instances/${entry.instanceId}`
          : undefined;
  return {
    specversion: "1.0",
    id: entry.changeId,
    source: `/environments/${envId}`,
    type,
    ...(subject ? { subject } : {}),
    time: entry.at,
    datacontenttype: "application/json",
    data: {
      actorId: entry.actorId,
      ...(entry.resourceId ? { resourceId: entry.resourceId } : {}),
      ...(entry.principal ? { principal: entry.principal } : {}),
      ...(entry.role ? { role: entry.role } : {}),
      ...(entry.auditId ? { auditId: entry.auditId } : {}),
      ...(entry.reviewId ? { reviewId: entry.reviewId } : {}),
      ...(entry.instanceId ? { instanceId: entry.instanceId } : {}),
      detail: entry.detail,
    },
  };
}
