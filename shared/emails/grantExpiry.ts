import type { ResourceKind, Role } from "../rules/matrix.js";
import { buttonLink, emailDocument, escapeHtml, formatDate, oneLine } from "./html.js";
import { kindNames, roleNames } from "./names.js";
import type { RenderedEmail } from "./rendered.js";

/** What an expiry email says: whose access to what ends (or ended) when, and where to extend it. */
export interface GrantExpiryInput {
  environmentName: string;
  resource: { name: string; kind: ResourceKind };
  /** How the grantee is named: a user's name and email, or a group's or list's name. */
  principalLabel: string;
  role: Role;
  expiresAt: string;
  step: "remind14" | "remind1" | "expire";
  audience: "grantee" | "owners";
  link: string;
}

/** Reminders 14 days and 1 day ahead, and the owners' note at expiry (sharing-rules.md, "Time-bound access"). */
export function renderGrantExpiryEmail(input: GrantExpiryInput): RenderedEmail {
  const env = oneLine(input.environmentName, 100);
  const what = `the ${kindNames[input.resource.kind]} "${oneLine(input.resource.name, 200)}"`;
  const role = roleNames[input.role];
  const when = formatDate(input.expiresAt);
  const who = oneLine(input.principalLabel, 200);
  const expired = input.step === "expire";
  const lead = input.step === "remind14" ? "in 14 days" : "tomorrow";
  const subject = oneLine(
    expired
      ? `[${env}] Access of ${who} to ${what} has expired`
      : input.audience === "grantee"
        ? `[${env}] Your access to ${what} expires ${lead}`
        : `[${env}] Access of ${who} to ${what} expires ${lead}`,
    250,
  );
  const sentence = expired
    ? `The ${role} access of ${who} to ${what} in the environment "${env}" expired on ${when} and has been removed.`
    : input.audience === "grantee"
      ? `Your ${role} access to ${what} in the environment "${env}" expires on ${when}.`
      : `The ${role} access of ${who} to ${what} in the environment "${env}" expires on ${when}.`;
  const next = expired
    ? "Share it again if it is still needed."
    : input.audience === "grantee"
      ? "If you still need it, ask one of its owners to extend it."
      : "Anyone who may share this role can extend or shorten it.";
  const plainText = [sentence, "", next, `Review sharing: ${input.link}`, ""].join("\n");
  const html = emailDocument(
    subject,
    [
      `<p style="font-weight:600;">${expired ? "Access expired" : "Access expiring"}</p>`,
      `<p>${escapeHtml(sentence)}</p>`,
      `<p>${escapeHtml(next)}</p>`,
      buttonLink(input.link, "Review sharing"),
    ].join("\n"),
  );
  return { subject, plainText, html };
}
