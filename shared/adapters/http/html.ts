import { createHash } from "node:crypto";
import type { HttpResponseInit } from "@azure/functions";
import { DomainError } from "../../errors.js";
import { escapeHtml, formatDate } from "../../emails/html.js";
import { kindNames, roleNames } from "../../emails/names.js";
import type { InvitationPageModel, InvitationRefusal } from "../../usecases/invitations.js";

/**
 * The invitation pages: the only HTML this API serves, to people following a link from an email, on
 * any device. Self-contained (no external assets, no script), every piece of data escaped, and a
 * Content-Security-Policy that would stop a script even if one slipped through: nothing may load
 * but the one inline stylesheet (allowed by its hash), and forms may post only here and be
 * redirected only to the product (`APP_BASE_URL`).
 */

const stylesheet = `
:root { color-scheme: light dark; font-family: "Segoe UI", system-ui, sans-serif; line-height: 1.5; }
body { margin: 0; padding: 1rem; display: flex; justify-content: center; }
main { width: 100%; max-width: 34rem; }
h1 { font-size: 1.5rem; line-height: 1.25; overflow-wrap: anywhere; }
p, blockquote { overflow-wrap: anywhere; }
blockquote { margin: 1rem 0; padding: .5rem 1rem; border-left: 4px solid #8888; white-space: pre-wrap; }
button { font: inherit; font-weight: 600; width: 100%; min-height: 3rem; padding: .75rem 1.25rem; border: 0; border-radius: .35rem; background: #0f6cbd; color: #fff; cursor: pointer; }
button:focus-visible { outline: 3px solid #000; outline-offset: 2px; }
.small { font-size: .9rem; opacity: .8; }
@media (min-width: 40rem) { body { padding: 3rem 1rem; } button { width: auto; } }
`;

const styleHash = createHash("sha256").update(stylesheet).digest("base64");

function contentSecurityPolicy(formTargets: readonly string[], hashes: readonly string[] = [styleHash]): string {
  return [
    "default-src 'none'",
    `style-src ${hashes.map((h) => `'sha256-${h}'`).join(" ")}`,
    // Chromium applies form-action to the redirect after the POST too, so the product is listed.
    `form-action 'self' ${formTargets.join(" ")}`.trim(),
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Headers of every invitation page and redirect: the token is in the URL, so nothing may cache or leak it. */
const privateHeaders = {
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
};

/**
 * One page of this API's HTML (also the claim pages, `claimPages.ts`, and the reviewer's page,
 * `reviewPages.ts`): escaped by the caller, under the CSP above. `moreStyles`: a second inline
 * stylesheet a page needs besides the shared one, allowed by its hash too.
 */
export function page(
  status: number,
  title: string,
  body: string,
  outcome: string,
  formTargets: readonly string[] = [],
  extraHeaders: Record<string, string> = {},
  moreStyles = "",
): HttpResponseInit {
  const more = moreStyles ? pageStyle(moreStyles) : undefined;
  return styledPage({ stylesheet, hash: styleHash }, status, title, body, outcome, formTargets, extraHeaders, more);
}

/** A stylesheet of its own for pages laid out otherwise (the report pages, `reportPages.ts`), and its CSP hash. */
export interface PageStyle {
  stylesheet: string;
  hash: string;
}

export const pageStyle = (css: string): PageStyle => ({
  stylesheet: css,
  hash: createHash("sha256").update(css).digest("base64"),
});

/** `page` with another stylesheet (and `more`, a second one), the only ones the CSP allows on it. */
export function styledPage(
  style: PageStyle,
  status: number,
  title: string,
  body: string,
  outcome: string,
  formTargets: readonly string[] = [],
  extraHeaders: Record<string, string> = {},
  more?: PageStyle,
): HttpResponseInit {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style>${style.stylesheet}</style>${more ? `\n<style>${more.stylesheet}</style>` : ""}
</head>
<body>
<main data-outcome="${escapeHtml(outcome)}">
${body}
</main>
</body>
</html>
`;
  return {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": contentSecurityPolicy(formTargets, more ? [style.hash, more.hash] : [style.hash]),
      ...privateHeaders,
      ...extraHeaders,
    },
    body: html,
  };
}

/** The invitation, with the button that accepts it. `appOrigin` is where accepting redirects to. */
export function invitationPage(model: InvitationPageModel, token: string, appOrigin: string): HttpResponseInit {
  const r = model.resource;
  const name = `<strong>${escapeHtml(r.displayName)}</strong>`;
  const greeting = model.recipientName ? `<p>Hello ${escapeHtml(model.recipientName)},</p>` : "";
  const body = [
    `<h1>${model.accepted ? "You've accepted this invitation" : "You're invited"}</h1>`,
    greeting,
    `<p>${escapeHtml(model.sharerName)} shared the ${escapeHtml(kindNames[r.kind])} ${name} with you as ${escapeHtml(roleNames[model.role])}.</p>`,
    ...(model.message?.trim()
      ? [
          `<p class="small">${escapeHtml(model.sharerName)} wrote:</p>`,
          `<blockquote>${escapeHtml(model.message.trim())}</blockquote>`,
        ]
      : []),
    `<form method="post" action="/api/invitations/${escapeHtml(encodeURIComponent(token))}/accept">`,
    `<button type="submit">${model.accepted ? "Open it" : "Accept and open"}</button>`,
    `</form>`,
    model.accepted
      ? ""
      : `<p class="small">This invitation works until ${escapeHtml(formatDate(model.expiresAt))}.</p>`,
  ]
    .filter((line) => line !== "")
    .join("\n");
  return page(200, `Invitation: ${r.displayName}`, body, model.accepted ? "accepted" : "invitation", [appOrigin]);
}

const refusals: Record<InvitationRefusal, { status: number; title: string; text: string }> = {
  invalid: {
    status: 400,
    title: "This invitation link is not valid",
    text: "The link may have been copied incompletely or changed. Open it again from the invitation email, or ask the person who shared with you to resend the invitation.",
  },
  expired: {
    status: 410,
    title: "This invitation has expired",
    text: "Ask the person who shared with you to resend the invitation.",
  },
  revoked: {
    status: 410,
    title: "This invitation has been revoked",
    text: "The access it offered was removed, or what was shared no longer exists. Ask the person who shared with you if you still need it.",
  },
  superseded: {
    status: 410,
    title: "This invitation link has been revoked",
    text: "A newer invitation was sent to you and replaces this one. Use the link in the most recent invitation email.",
  },
};

/** The page for a link that doesn't work, with the status that says why (400 or 410). */
export function refusalPage(reason: InvitationRefusal): HttpResponseInit {
  const r = refusals[reason];
  return page(r.status, r.title, `<h1>${escapeHtml(r.title)}</h1>\n<p>${escapeHtml(r.text)}</p>`, reason);
}

/** An error page that says nothing about internals; the cause goes to the log. */
export function errorPage(e: unknown, log: (message: string) => void): HttpResponseInit {
  if (e instanceof DomainError && e.code === "unavailable") {
    log(`invitation page: unavailable: ${e.message}: ${String((e.cause as Error | undefined)?.message ?? "")}`);
    return page(
      503,
      "Try again in a moment",
      "<h1>Try again in a moment</h1>\n<p>The service is busy. Reload this page in a moment.</p>",
      "unavailable",
      [],
      { "retry-after": "5" },
    );
  }
  if (e instanceof DomainError && e.code === "conflict") {
    return page(
      409,
      "Try again",
      "<h1>Try again</h1>\n<p>Something changed while your request ran. Go back and try again.</p>",
      "conflict",
    );
  }
  log(`invitation page: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return page(
    500,
    "Something went wrong",
    "<h1>Something went wrong</h1>\n<p>It has been logged. Try again later.</p>",
    "error",
  );
}

/** `303 See Other` to where accepting leads: the browser follows it with a GET. */
export function seeOther(location: string): HttpResponseInit {
  return { status: 303, headers: { location, ...privateHeaders } };
}
