import { buttonLink, emailDocument, escapeHtml, formatDate, oneLine } from "./html.js";
import type { RenderedEmail } from "./rendered.js";

/** What the email about a copy of a flow says; every string is data and is escaped where it lands. */
export interface CopyEmailInput {
  senderName: string;
  recipientName?: string | undefined;
  flowName: string;
  description?: string | undefined;
  /** Names of the connectors the template uses (it carries no connection). */
  connectors: readonly string[];
  /** ISO time the copy was sent. */
  sentAt: string;
  /** Where the recipient opens the template in the product to create their flow. */
  link: string;
  /** `{PUBLIC_BASE_URL}/api/copies/{copyId}`: the template through the API. */
  apiLink: string;
}

/**
 * Seed 004, "Send a copy": the recipient learns that a flow template was shared with them, that it is
 * theirs to change, and that they create their own flow from it with their own connections.
 */
export function renderCopyEmail(input: CopyEmailInput): RenderedEmail {
  const sender = oneLine(input.senderName, 100) || "Someone";
  const flow = oneLine(input.flowName, 200);
  const subject = oneLine(`${sender} sent you a copy of the cloud flow "${flow}"`, 250);
  const greeting = input.recipientName ? `Hello ${oneLine(input.recipientName, 100)},` : "Hello,";
  const intro = `${sender} sent you a copy of the cloud flow "${flow}" on ${formatDate(input.sentAt)}. It is a template: the flow you create from it is yours alone, and you can change it to fit your needs.`;
  const connections =
    input.connectors.length > 0
      ? `The template carries no connections: when you create your flow, you sign in to ${input.connectors.map((c) => oneLine(c, 100)).join(", ")} with your own account.`
      : "The template carries no connections.";
  const plainText = [
    greeting,
    "",
    intro,
    ...(input.description ? ["", `Description: ${input.description}`] : []),
    "",
    connections,
    "",
    `Create your flow: ${input.link}`,
    `Through the API: ${input.apiLink} (POST .../instantiate creates the flow)`,
    "",
  ].join("\n");
  const html = emailDocument(
    subject,
    [
      `<p>${escapeHtml(greeting)}</p>`,
      `<p>${escapeHtml(intro)}</p>`,
      ...(input.description
        ? [`<p style="color:#323130;white-space:pre-wrap;">${escapeHtml(input.description)}</p>`]
        : []),
      `<p>${escapeHtml(connections)}</p>`,
      buttonLink(input.link, "Create your flow"),
      `<p style="font-size:14px;color:#605e5c;">Through the API: ${escapeHtml(input.apiLink)}</p>`,
    ].join("\n"),
  );
  return { subject, plainText, html };
}
