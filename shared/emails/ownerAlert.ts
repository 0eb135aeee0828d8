import type { ResourceKind, Role } from "../rules/matrix.js";
import { buttonLink, emailDocument, escapeHtml, formatDate, oneLine } from "./html.js";
import { kindNames, roleNames } from "./names.js";
import type { RenderedEmail } from "./rendered.js";

/** What an owner alert says: who was made owner or co-owner of what, by whom, when. */
export interface OwnerAlertInput {
  environmentName: string;
  /** Undefined when the resource was deleted before the alert went out. */
  resource: { name: string; kind: ResourceKind } | undefined;
  resourceId: string;
  /** How the new owner is named: a user's display name and email, or a group's or list's name. */
  principalLabel: string;
  role: Role;
  actorName: string;
  /** ISO time of the grant. */
  at: string;
  /** Where the resource's sharing can be reviewed in the product. */
  link: string;
  /** How it happened, when known (older jobs: a share). */
  how?: "share" | "ownerChange" | "reassignment" | "offboarding" | "claim" | "groupMembership" | undefined;
  /** For `groupMembership`: the group or list joined, which holds the role. */
  viaLabel?: string | undefined;
}

const howPhrases = {
  share: "by sharing",
  ownerChange: "by changing the primary owner",
  reassignment: "by reassigning a user's records",
  offboarding: "by offboarding a user who left",
  claim: "by an ownership claim",
} as const;

/**
 * Sent to the environment's admins at once when someone is made owner or co-owner in an environment
 * marked sensitive (`sharing-rules.md`, Compliance audits and alerts).
 */
export function renderOwnerAlertEmail(input: OwnerAlertInput): RenderedEmail {
  const env = oneLine(input.environmentName, 100);
  const principal = oneLine(input.principalLabel, 200);
  const actor = oneLine(input.actorName, 100) || "Someone";
  const what = input.resource
    ? `the ${kindNames[input.resource.kind]} "${oneLine(input.resource.name, 200)}"`
    : `resource ${input.resourceId} (since deleted)`;
  const subject = oneLine(`[${env}] ${principal} was made ${roleNames[input.role]} of ${what}`, 250);
  const where = `in the sensitive environment "${env}" on ${formatDate(input.at)}`;
  const sentence =
    input.how === "groupMembership"
      ? `${principal} became ${roleNames[input.role]} of ${what} ${where}: ${actor} added them to ${oneLine(input.viaLabel ?? "a group", 200)}, which holds that role.`
      : `${actor} made ${principal} ${roleNames[input.role]} of ${what} ${input.how ? `${howPhrases[input.how]} ` : ""}${where}.`;
  const why =
    "You are receiving this because you are a system administrator of this environment, and it is marked sensitive: every new owner or co-owner is reported at once.";
  const review = "If this wasn't expected, review who the resource is shared with and revoke the grant.";

  const plainText = [sentence, "", why, "", `${review}`, `Review sharing: ${input.link}`, ""].join("\n");
  const html = emailDocument(
    subject,
    [
      `<p style="font-weight:600;">New ${escapeHtml(input.role === "coOwner" ? "co-owner" : "owner")} in a sensitive environment</p>`,
      `<p>${escapeHtml(sentence)}</p>`,
      `<p>${escapeHtml(review)}</p>`,
      buttonLink(input.link, "Review sharing"),
      `<p style="font-size:14px;color:#605e5c;">${escapeHtml(why)}</p>`,
    ].join("\n"),
  );
  return { subject, plainText, html };
}
