import type { ResourceKind } from "../rules/matrix.js";
import { buttonLink, emailDocument, escapeHtml, formatDate, oneLine } from "./html.js";
import { kindNames } from "./names.js";
import type { RenderedEmail } from "./rendered.js";

/** What a claim email says to one candidate: what is ownerless, why them, and the link to claim it. */
export interface ClaimInput {
  environmentName: string;
  resource: { name: string; kind: ResourceKind };
  candidateName: string;
  /** The leaver whose place is vacant, by name where the directory still knows them. */
  vacantOwnerName: string;
  /** `{PUBLIC_BASE_URL}/api/claims/{token}`. */
  link: string;
  /** After this the environment admins are told nobody claimed it. */
  deadline: string;
}

/** Sent to each candidate of an ownerless resource (sharing-rules.md, "Owners never vanish"). */
export function renderClaimEmail(input: ClaimInput): RenderedEmail {
  const env = oneLine(input.environmentName, 100);
  const what = `the ${kindNames[input.resource.kind]} "${oneLine(input.resource.name, 200)}"`;
  const subject = oneLine(`[${env}] ${what} has no owner: claim it`, 250);
  const hello = `Hello ${oneLine(input.candidateName, 100)},`;
  const sentence = `${oneLine(input.vacantOwnerName, 200)} has left, and nobody could take over ${what} in the environment "${env}". You work on it, so you can claim its ownership.`;
  const rule = `The first person to claim it becomes its primary owner. If nobody claims it by ${formatDate(input.deadline)}, the environment's administrators are told.`;
  const plainText = [hello, "", sentence, "", rule, "", `Claim ownership: ${input.link}`, ""].join("\n");
  const html = emailDocument(
    subject,
    [
      `<p>${escapeHtml(hello)}</p>`,
      `<p>${escapeHtml(sentence)}</p>`,
      buttonLink(input.link, "Claim ownership"),
      `<p style="font-size:14px;color:#605e5c;">${escapeHtml(rule)}</p>`,
    ].join("\n"),
  );
  return { subject, plainText, html };
}

/** What the escalation says to the admins: nobody claimed the resource in time. */
export interface ClaimEscalationInput {
  environmentName: string;
  resource: { name: string; kind: ResourceKind };
  vacantOwnerName: string;
  candidates: number;
  since: string;
  /** Where the resource's sharing is reviewed in the product. */
  link: string;
}

export function renderClaimEscalationEmail(input: ClaimEscalationInput): RenderedEmail {
  const env = oneLine(input.environmentName, 100);
  const what = `the ${kindNames[input.resource.kind]} "${oneLine(input.resource.name, 200)}"`;
  const subject = oneLine(`[${env}] Nobody claimed ${what}: it still has no owner`, 250);
  const sentence = `${what} has had no owner since ${oneLine(input.vacantOwnerName, 200)} left on ${formatDate(input.since)}. ${
    input.candidates > 0
      ? `${input.candidates} of its co-owners and contributors were asked to claim it, and nobody has.`
      : "None of its co-owners or contributors can own it, so nobody could be asked to claim it."
  }`;
  const todo = "Make someone its owner (reassign it), or delete it if it is no longer needed.";
  const why = "You are receiving this because you are a system administrator of this environment.";
  const plainText = [sentence, "", todo, `Review it: ${input.link}`, "", why, ""].join("\n");
  const html = emailDocument(
    subject,
    [
      `<p style="font-weight:600;">An ownerless resource was not claimed</p>`,
      `<p>${escapeHtml(sentence)}</p>`,
      `<p>${escapeHtml(todo)}</p>`,
      buttonLink(input.link, "Review it"),
      `<p style="font-size:14px;color:#605e5c;">${escapeHtml(why)}</p>`,
    ].join("\n"),
  );
  return { subject, plainText, html };
}
