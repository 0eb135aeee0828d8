import type { HttpResponseInit } from "@azure/functions";
import { escapeHtml, formatDate } from "../../emails/html.js";
import { kindNames } from "../../emails/names.js";
import type { Role } from "../../rules/matrix.js";
import type { ReviewDecision, ReviewItemView } from "../../model/reviews.js";
import type { EnteredItem } from "../../reviews/form.js";
import type { ReviewPageModel, ReviewPageRefusal } from "../../usecases/reviews/page.js";
import { page } from "./html.js";

/**
 * The reviewer's page (`/api/review-pages/{token}`, docs/reviews.md), made as the invitation pages
 * are (`html.ts`): self-contained, every piece of data escaped, no script (a plain form post), the
 * same Content-Security-Policy and private headers. One fieldset per item, labelled radios and
 * textarea, so it reads with a screen reader and works with a keyboard; one column on a phone.
 */

// Colours are set as pairs (text and background) so they keep ≥ 4.5:1 in light and dark schemes.
const reviewStyles = `
main { max-width: 48rem; }
fieldset { margin: 0 0 1rem; padding: .75rem 1rem 1rem; border: 1px solid #767676; border-radius: .35rem; min-width: 0; }
legend { font-weight: 600; padding: 0 .25rem; overflow-wrap: anywhere; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .75rem; margin: .25rem 0 .75rem; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; min-width: 0; }
.choices { display: flex; flex-wrap: wrap; gap: .25rem 1.25rem; margin: .25rem 0 .5rem; }
.choices label { display: inline-flex; align-items: center; gap: .4rem; min-height: 2.75rem; }
input[type=radio] { width: 1.25rem; height: 1.25rem; margin: 0; }
textarea { box-sizing: border-box; width: 100%; min-height: 4rem; font: inherit; padding: .4rem; }
label.block { display: block; margin-top: .25rem; }
input:focus-visible, textarea:focus-visible, a:focus-visible { outline: 3px solid currentColor; outline-offset: 2px; }
.badge { display: inline-block; font-size: .85rem; padding: 0 .4rem; border-radius: .25rem; background: #fff4ce; color: #4d3800; }
.notice { padding: .75rem 1rem; border-radius: .35rem; background: #dff6dd; color: #0b3a0b; }
.error { padding: .5rem .75rem; border-radius: .35rem; background: #fde7e9; color: #6e0811; margin: .5rem 0; }
.current { font-size: .95rem; }
nav { margin: 1rem 0; }
a { color: inherit; text-decoration-thickness: 2px; }
@media (max-width: 30rem) { dl { grid-template-columns: 1fr; } dt { margin-top: .25rem; } }
`;

const decisionLabels: Record<ReviewDecision, string> = {
  approve: "Approve: keep this access",
  deny: "Deny: remove this access",
  dontKnow: "Don't know",
};
const decisionNames: Record<ReviewDecision, string> = {
  approve: "approved",
  deny: "denied",
  dontKnow: "don't know",
};
const roleLabels: Record<Role, string> = {
  owner: "Owner",
  coOwner: "Co-owner",
  viewer: "Viewer",
  contributor: "Contributor",
  runOnly: "Run-only user",
};

export interface ReviewPageState {
  /** The hidden CSRF field (`shared/reviews/csrf.ts`). */
  csrf: string;
  /** `?page=`: the page shown, so the form comes back to it after saving. */
  page?: string;
  /** How many decisions the last post saved (`?saved=N`). */
  saved?: number;
  /** After a refused post: what was wrong, per item, and what the person had entered. */
  itemErrors?: Record<string, string>;
  entered?: Record<string, EnteredItem>;
}

const e = escapeHtml;
const pageUrl = (token: string, continuation?: string) =>
  `/api/review-pages/${encodeURIComponent(token)}${continuation ? `?page=${encodeURIComponent(continuation)}` : ""}`;

function principalText(item: ReviewItemView): string {
  const name = item.principalName ?? item.principal.id;
  const email = item.principalEmail ? ` (${item.principalEmail})` : "";
  const type = item.principal.type === "user" ? "" : ` — ${item.principal.type}`;
  return `${name}${email}${type}`;
}

function itemFieldset(
  item: ReviewItemView,
  index: number,
  justificationRequired: boolean,
  state: ReviewPageState,
): string {
  const id = item.itemId;
  const entered = state.entered?.[id];
  const chosen = entered ? entered.decision : item.decision;
  const justification = entered ? (entered.justification ?? "") : (item.justification ?? "");
  const error = state.itemErrors?.[id];
  const errorId = `err-${id}`;
  const radios = (["approve", "deny", "dontKnow"] as const)
    .map(
      (d) =>
        `<label><input type="radio" name="decision.${e(id)}" value="${d}"${chosen === d ? " checked" : ""}${
          error ? ` aria-describedby="${errorId}"` : ""
        }> ${e(decisionLabels[d])}</label>`,
    )
    .join("\n");
  const current = item.decision
    ? `<p class="current">Current decision: <strong>${e(decisionNames[item.decision])}</strong>${
        item.decidedAt ? ` on ${e(formatDate(item.decidedAt))}` : ""
      }${item.defaulted ? " (the review's default)" : ""}.</p>`
    : `<p class="current">Not decided yet.</p>`;
  const facts: [string, string][] = [
    ["Who", `${e(principalText(item))}${item.guest ? ' <span class="badge">Guest</span>' : ""}`],
    ["Id", e(item.principal.id)],
    ["Role", e(roleLabels[item.role])],
    ["Since", e(formatDate(item.since))],
    ["Via", item.via === "invitation" ? "accepted an invitation" : "shared directly"],
    ...(item.expiresAt ? [["Expires", e(formatDate(item.expiresAt))] as [string, string]] : []),
  ];
  return [
    `<fieldset id="item-${e(id)}" data-item="${e(id)}">`,
    `<legend>${index}. ${e(item.resourceName)} <span class="small">(${e(kindNames[item.kind])})</span></legend>`,
    `<dl>${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>`,
    current,
    error ? `<p class="error" id="${errorId}" role="alert">${e(error)}</p>` : "",
    `<div class="choices">`,
    radios,
    `</div>`,
    `<label class="block" for="just-${e(id)}">Justification${justificationRequired ? " (required)" : " (optional)"}</label>`,
    `<textarea id="just-${e(id)}" name="justification.${e(id)}" maxlength="1000" rows="2"${
      error ? ` aria-describedby="${errorId}" aria-invalid="true"` : ""
    }>${e(justification)}</textarea>`,
    `</fieldset>`,
  ]
    .filter((l) => l !== "")
    .join("\n");
}

/** The reviewer's items, a page of them, with the form that decides them. */
export function reviewItemsPage(model: ReviewPageModel, token: string, state: ReviewPageState): HttpResponseInit {
  const failed = state.itemErrors !== undefined && Object.keys(state.itemErrors).length > 0;
  const body = [
    `<h1>Access review: ${e(model.reviewName)}</h1>`,
    `<p>Environment <strong>${e(model.environmentName)}</strong>. Decide by ${e(formatDate(model.endsAt))}: after that this link stops working${
      model.defaultDecision && model.defaultDecision !== "none"
        ? ` and undecided access is ${model.defaultDecision === "approve" ? "kept" : "removed"}`
        : ""
    }.</p>`,
    state.saved !== undefined
      ? `<p class="notice" role="status">Saved ${state.saved} decision${state.saved === 1 ? "" : "s"}.</p>`
      : "",
    failed ? `<p class="error" role="alert">Nothing was saved: fix the items marked below and submit again.</p>` : "",
    model.items.length === 0
      ? `<p>${model.isFirstPage ? "You have nothing to review here." : "No more items."}</p>`
      : [
          `<h2>Your items${model.isFirstPage ? "" : " (continued)"}</h2>`,
          `<p class="small">Undecided items come first. For each item, choose approve (keep the access), deny (remove it when the review ends) or don't know; items you leave unchosen are not changed. You can change a decision until the review ends.</p>`,
          `<form method="post" action="${e(pageUrl(token))}">`,
          `<input type="hidden" name="csrf" value="${e(state.csrf)}">`,
          state.page ? `<input type="hidden" name="page" value="${e(state.page)}">` : "",
          ...model.items.map((item, i) => itemFieldset(item, i + 1, model.justificationRequired, state)),
          `<button type="submit">Save decisions</button>`,
          `</form>`,
        ]
          .filter((l) => l !== "")
          .join("\n"),
    model.nextPage || !model.isFirstPage
      ? `<nav aria-label="Pages">${[
          !model.isFirstPage ? `<a href="${e(pageUrl(token))}">First page</a>` : "",
          model.nextPage
            ? `<a href="${e(pageUrl(token, model.nextPage))}" rel="next">Next page</a> <span class="small">(save this page first: moving on does not save it)</span>`
            : "",
        ]
          .filter((l) => l !== "")
          .join(" · ")}</nav>`
      : "",
  ]
    .filter((l) => l !== "")
    .join("\n");
  return page(
    failed ? 400 : 200,
    `Access review: ${model.reviewName}`,
    body,
    failed ? "refusedItems" : state.saved !== undefined ? "saved" : "review",
    [],
    // Under `no-referrer` browsers send `Origin: null` with the form's POST (Fetch: "serializing a
    // request origin"), which the CSRF check refuses; `same-origin` sends our origin and still
    // gives the link to no other site (the page loads nothing and links nowhere else).
    { "referrer-policy": "same-origin" },
    reviewStyles,
  );
}

const refusals: Record<ReviewPageRefusal["reason"] | "badPage", { status: number; title: string; text: string }> = {
  invalid: {
    status: 400,
    title: "This review link is not valid",
    text: "The link may have been copied incompletely or changed. Open it again from the review email.",
  },
  expired: {
    status: 410,
    title: "This review link has expired",
    text: "The review has ended, so its decisions can no longer be changed. Ask an administrator of the environment if you need to change someone's access.",
  },
  ended: {
    status: 410,
    title: "This review has ended",
    text: "Its decisions can no longer be changed. Ask an administrator of the environment if you need to change someone's access.",
  },
  badPage: {
    status: 400,
    title: "This page link is not valid",
    text: "The page part of the link was changed. Open the link from your email again.",
  },
  notStarted: {
    status: 409,
    title: "This review is not open yet",
    text: "Its items are still being gathered. Open the link again in a few minutes.",
  },
  notAllowed: {
    status: 403,
    title: "You can no longer review these items",
    text: "You are no longer one of the people who review them (for example, you no longer own the resources, or you are no longer an administrator). Ask an administrator of the environment.",
  },
  forged: {
    status: 403,
    title: "This form has expired or did not come from this page",
    text: "Nothing was saved. Open the link from your email again, and submit your decisions from that page.",
  },
};

/** The page for a link or post that doesn't work, with the status that says why. */
export function reviewRefusalPage(refusal: { reason: ReviewPageRefusal["reason"] | "badPage" }): HttpResponseInit {
  const r = refusals[refusal.reason];
  return page(r.status, r.title, `<h1>${e(r.title)}</h1>\n<p>${e(r.text)}</p>`, refusal.reason);
}

/** A post the page did not send: what was wrong, and nothing saved. */
export function reviewBadFormPage(errors: readonly string[]): HttpResponseInit {
  const title = "This form could not be read";
  return page(
    400,
    title,
    [
      `<h1>${e(title)}</h1>`,
      `<p>Nothing was saved. What was wrong:</p>`,
      `<ul>${errors.map((x) => `<li>${e(x)}</li>`).join("")}</ul>`,
      `<p>Open the link from your email again and submit your decisions from that page.</p>`,
    ].join("\n"),
    "badForm",
  );
}
