import { buttonLink, emailDocument, escapeHtml, formatDate, oneLine } from "./html.js";
import type { RenderedEmail } from "./rendered.js";

/** What a reviewer's email says: which review, how many items wait, until when, and their link. */
export interface ReviewRequestInput {
  environmentName: string;
  reviewName: string;
  reviewerName: string;
  /** Items waiting for a decision under this reviewer's key. */
  items: number;
  /** More items than were counted (`items` is a lower bound). */
  moreItems?: boolean;
  /** The instance ends (and the link stops working) then. */
  deadline: string;
  /** `{PUBLIC_BASE_URL}/api/review-pages/{token}`. */
  link: string;
  step: "start" | "reminder";
  /** What happens to an item nobody decided by the deadline. */
  defaultDecision: "none" | "approve" | "deny";
  justificationRequired: boolean;
}

const countOf = (n: number, more: boolean | undefined) =>
  `${more ? "more than " : ""}${n.toLocaleString("en-GB")} ${n === 1 && !more ? "grant" : "grants"}`;

/** Sent to each reviewer when an instance opens, and halfway through to those with undecided items. */
export function renderReviewRequestEmail(input: ReviewRequestInput): RenderedEmail {
  const env = oneLine(input.environmentName, 100);
  const review = `"${oneLine(input.reviewName, 200)}"`;
  const count = countOf(input.items, input.moreItems);
  const deadline = formatDate(input.deadline);
  const reminder = input.step === "reminder";
  const subject = oneLine(
    reminder
      ? `[${env}] Reminder: ${count} still to review in ${review} by ${deadline}`
      : `[${env}] Please review who has access: ${review}`,
    250,
  );
  const hello = `Hello ${oneLine(input.reviewerName, 100)},`;
  const sentence = reminder
    ? `The access review ${review} in the environment "${env}" is halfway through, and ${count} you review ${input.items === 1 && !input.moreItems ? "is" : "are"} still undecided.`
    : `The access review ${review} in the environment "${env}" has started. You review ${count}: for each, confirm the access is still needed (approve), remove it (deny), or say you don't know.`;
  const deadlineLine = `Decide by ${deadline}. ${
    input.defaultDecision === "none"
      ? "Items nobody decides by then stay as they are, undecided."
      : `Items nobody decides by then are ${input.defaultDecision === "approve" ? "approved" : "denied"} automatically.`
  }`;
  const why = input.justificationRequired
    ? "Each decision needs a short justification."
    : "You may add a justification to each decision.";
  const note = "The link is personal and works until the review ends; don't forward it.";
  const plainText = [hello, "", sentence, "", deadlineLine, why, "", `Review access: ${input.link}`, "", note, ""].join(
    "\n",
  );
  const html = emailDocument(
    subject,
    [
      `<p>${escapeHtml(hello)}</p>`,
      `<p>${escapeHtml(sentence)}</p>`,
      `<p>${escapeHtml(deadlineLine)} ${escapeHtml(why)}</p>`,
      buttonLink(input.link, "Review access"),
      `<p style="font-size:14px;color:#605e5c;">${escapeHtml(note)}</p>`,
    ].join("\n"),
  );
  return { subject, plainText, html };
}

/** What the admins' summary of a finished instance says. */
export interface ReviewSummaryInput {
  environmentName: string;
  reviewName: string;
  instanceId: string;
  createdAt: string;
  completedAt: string;
  counts: { items: number; approve: number; deny: number; dontKnow: number; undecided: number };
  /** Items that took the definition's default decision at the end. */
  defaulted: number;
  defaultDecision: "none" | "approve" | "deny";
  /** When the denials were applied: how each ended. Absent: not applied (yet). */
  applied?: { applied: number; alreadyGone: number; failed: number } | undefined;
  /** The JSON instance route. */
  link: string;
}

/** Sent once to the environment's enabled admins when an instance is finished. */
export function renderReviewSummaryEmail(input: ReviewSummaryInput): RenderedEmail {
  const env = oneLine(input.environmentName, 100);
  const review = `"${oneLine(input.reviewName, 200)}"`;
  const c = input.counts;
  const subject = oneLine(
    `[${env}] Access review ${review} finished: ${c.deny} denied, ${c.approve} approved of ${c.items}`,
    250,
  );
  const period = `The access review ${review} (instance ${oneLine(input.instanceId, 80)}) ran from ${formatDate(input.createdAt)} to ${formatDate(input.completedAt)}.`;
  const rows: [string, string][] = [
    ["Grants reviewed", String(c.items)],
    ["Approved", String(c.approve)],
    ["Denied", String(c.deny)],
    ["Don't know", String(c.dontKnow)],
    ["Undecided", String(c.undecided)],
  ];
  const defaulted =
    input.defaulted > 0 && input.defaultDecision !== "none"
      ? `${input.defaulted} of them nobody decided: they took the default decision (${input.defaultDecision === "approve" ? "approved" : "denied"}).`
      : input.defaultDecision === "none" && c.undecided > 0
        ? `${c.undecided} stayed undecided (this review has no default decision).`
        : "Every grant was decided by a reviewer.";
  const a = input.applied;
  const applied = a
    ? `Denied grants were revoked: ${a.applied} revoked, ${a.alreadyGone} already gone, ${a.failed} failed.${a.failed > 0 ? " The failed ones still have their access; see the instance for why." : ""}`
    : c.deny > 0
      ? "The denials are not applied yet: an administrator applies them (POST .../apply)."
      : "There were no denials to apply.";
  const why = "You are receiving this because you are a system administrator of this environment.";
  const plainText = [
    period,
    "",
    ...rows.map(([k, v]) => `${k}: ${v}`),
    "",
    defaulted,
    applied,
    "",
    `The instance: ${input.link}`,
    "",
    why,
    "",
  ].join("\n");
  const table = `<table role="presentation" style="border-collapse:collapse;margin:16px 0;">${rows
    .map(
      ([k, v]) =>
        `<tr><td style="padding:4px 16px 4px 0;">${escapeHtml(k)}</td><td style="padding:4px 0;font-weight:600;text-align:right;">${escapeHtml(v)}</td></tr>`,
    )
    .join("")}</table>`;
  const html = emailDocument(
    subject,
    [
      `<p style="font-weight:600;">Access review finished</p>`,
      `<p>${escapeHtml(period)}</p>`,
      table,
      `<p>${escapeHtml(defaulted)}</p>`,
      `<p>${escapeHtml(applied)}</p>`,
      buttonLink(input.link, "Open the instance"),
      `<p style="font-size:14px;color:#605e5c;">${escapeHtml(why)}</p>`,
    ].join("\n"),
  );
  return { subject, plainText, html };
}
