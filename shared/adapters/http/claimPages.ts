import type { HttpResponseInit } from "@azure/functions";
import { escapeHtml, formatDate } from "../../emails/html.js";
import { kindNames } from "../../emails/names.js";
import type { ClaimPageModel, ClaimRefusal } from "../../usecases/claims.js";
import { page } from "./html.js";

/**
 * The claim pages (docs/claims.md), made as the invitation pages are (`html.ts`): self-contained,
 * every piece of data escaped, no script, the same Content-Security-Policy and private headers.
 */

/** The claim, with the button that accepts it. `appOrigin` is where accepting redirects to. */
export function claimPage(model: ClaimPageModel, token: string, appOrigin: string): HttpResponseInit {
  const r = model.resource;
  const name = `<strong>${escapeHtml(r.displayName)}</strong>`;
  const body = [
    `<h1>${model.claimedByYou ? "You own this now" : "Claim ownership"}</h1>`,
    `<p>Hello ${escapeHtml(model.candidateName)},</p>`,
    model.claimedByYou
      ? `<p>You claimed the ${escapeHtml(kindNames[r.kind])} ${name}: you are its primary owner.</p>`
      : `<p>${escapeHtml(model.vacantOwnerName)} has left, and the ${escapeHtml(kindNames[r.kind])} ${name} has no owner. The first person to claim it becomes its primary owner.</p>`,
    `<form method="post" action="/api/claims/${escapeHtml(encodeURIComponent(token))}/accept">`,
    `<button type="submit">${model.claimedByYou ? "Open it" : "Claim and open"}</button>`,
    `</form>`,
    model.claimedByYou
      ? ""
      : `<p class="small">If nobody claims it by ${escapeHtml(formatDate(model.deadline))}, the environment's administrators are told.</p>`,
  ]
    .filter((line) => line !== "")
    .join("\n");
  return page(200, `Claim: ${r.displayName}`, body, model.claimedByYou ? "claimedByYou" : "claim", [appOrigin]);
}

/** The page for a claim link that doesn't work, with the status that says why. */
export function claimRefusalPage(refusal: ClaimRefusal): HttpResponseInit {
  const text = (status: number, title: string, sentence: string) =>
    page(status, title, `<h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(sentence)}</p>`, refusal.reason);
  switch (refusal.reason) {
    case "invalid":
      return text(
        400,
        "This claim link is not valid",
        "The link may have been copied incompletely or changed. Open it again from the email.",
      );
    case "expired":
      return text(410, "This claim link has expired", "Ask an administrator of the environment who owns it now.");
    case "ended":
      return text(
        410,
        "This claim has ended",
        "The resource was deleted, or a newer claim replaced this one. Use the link in the most recent email.",
      );
    case "claimed":
      return text(
        409,
        "Someone else claimed it first",
        `${refusal.ownerName} is now the owner of ${refusal.resourceName}. Ask them if you need it.`,
      );
    case "notEligible":
      return text(
        403,
        "You can't claim this",
        `You can't claim ${refusal.resourceName}: ${refusal.why}. Ask an administrator of the environment.`,
      );
  }
}
