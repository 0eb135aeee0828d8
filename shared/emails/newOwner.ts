import type { ResourceKind } from "../rules/matrix.js";
import { buttonLink, emailDocument, escapeHtml, oneLine } from "./html.js";
import { kindNames } from "./names.js";
import type { RenderedEmail } from "./rendered.js";

/** What the email to a new primary owner says: what they now own, whose it was, and where to look. */
export interface NewOwnerInput {
  environmentName: string;
  resource: { name: string; kind: ResourceKind };
  /** The leaver, by name where the directory still knows them. */
  previousOwnerName: string;
  /** Where the resource's sharing can be reviewed in the product. */
  link: string;
  /** Connections of the flow that ran with the leaver's credentials: the new owner should give them new ones. */
  connectionsToFix: { id: string; connector: string }[];
}

/**
 * Sent to the successor when an offboarding makes them primary owner of a resource
 * (sharing-rules.md, "Owners never vanish": "New owners are emailed").
 */
export function renderNewOwnerEmail(input: NewOwnerInput): RenderedEmail {
  const env = oneLine(input.environmentName, 100);
  const previous = oneLine(input.previousOwnerName, 200) || "its previous owner";
  const what = `the ${kindNames[input.resource.kind]} "${oneLine(input.resource.name, 200)}"`;
  const subject = oneLine(`[${env}] You are now the owner of ${what}`, 250);
  const sentence = `${previous} has left, and you are now the primary owner of ${what} in the environment "${env}".`;
  const why =
    "You were chosen as their successor: named by an administrator, as the resource's longest-standing co-owner, or as the environment's default successor.";
  const connections = input.connectionsToFix.map(
    (c) =>
      `Connection ${oneLine(c.id, 128)} (${oneLine(c.connector, 100)}) used ${previous}'s credentials: give it new ones.`,
  );
  const review = "Review who the resource is shared with, and whether it is still needed.";
  const plainText = [
    sentence,
    "",
    why,
    "",
    ...connections,
    ...(connections.length ? [""] : []),
    review,
    `Review sharing: ${input.link}`,
    "",
  ].join("\n");
  const html = emailDocument(
    subject,
    [
      `<p style="font-weight:600;">You are now the owner</p>`,
      `<p>${escapeHtml(sentence)}</p>`,
      ...connections.map((c) => `<p>${escapeHtml(c)}</p>`),
      `<p>${escapeHtml(review)}</p>`,
      buttonLink(input.link, "Review sharing"),
      `<p style="font-size:14px;color:#605e5c;">${escapeHtml(why)}</p>`,
    ].join("\n"),
  );
  return { subject, plainText, html };
}
