/**
 * The sink's web pages: the list of mail, one message (its links, its HTML in a sandboxed frame, its
 * plain text) and the product stand-in (`/app/*`) that accepting an invitation redirects to.
 */
import type { ServerResponse } from "node:http";
import { escapeHtml } from "../../shared/emails/html.js";
import { decodeSegment } from "./http.js";
import { extractLinks, isNavigable } from "./links.js";
import type { SinkMessage } from "./store.js";

// No script anywhere; everything interpolated goes through escapeHtml.
//
// The email's HTML is shown in a sandboxed srcdoc iframe. A srcdoc document inherits this policy, so
// the policy also governs the email: inline styles (which emails live on) and remote images are
// allowed, scripts never are (and the sandbox, lacking allow-scripts, blocks them a second time).
const contentSecurityPolicy = [
  "default-src 'none'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: http: https:",
  "frame-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
].join("; ");

const iframeSandbox = "allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation";

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": contentSecurityPolicy,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
  });
  res.end(html);
}

export function sendCss(res: ServerResponse): void {
  res.writeHead(200, {
    "content-type": "text/css; charset=utf-8",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
  });
  res.end(stylesheet);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/sink.css">
</head>
<body>
${body}
</body>
</html>
`;
}

export function renderIndex(list: SinkMessage[]): string {
  const items = list
    .map(
      (m) => `<li class="message" data-testid="message">
<a href="/messages/${escapeHtml(encodeURIComponent(m.operationId))}"><span class="subject">${escapeHtml(m.subject)}</span></a>
<span class="meta">to ${escapeHtml(m.to.join(", "))} · <time datetime="${escapeHtml(m.receivedAt)}">${escapeHtml(m.receivedAt)}</time></span>
</li>`,
    )
    .join("\n");
  return page(
    "Mail sink",
    `<header><h1>Mail sink</h1><a href="/">Refresh</a></header>
<main>
<p class="meta">${list.length} message${list.length === 1 ? "" : "s"}, newest first.</p>
${list.length ? `<ul class="messages">\n${items}\n</ul>` : "<p>No mail yet.</p>"}
</main>`,
  );
}

export function renderMessage(m: SinkMessage): string {
  const links = extractLinks(m);
  const linkItems = links
    .map((href) =>
      isNavigable(href)
        ? `<li><a data-testid="email-link" href="${escapeHtml(href)}">${escapeHtml(href)}</a></li>`
        : // An escaped javascript: URL is still a javascript: URL; show it, never make it clickable.
          `<li><code>${escapeHtml(href)}</code> (not a web link)</li>`,
    )
    .join("\n");
  // Prepended so it is the document's first base element: links in the mail leave the sandbox and
  // open in the sink's own tab, as they would from a mail client, instead of inside the frame.
  const srcdoc = `<base target="_top">${m.html}`;
  return page(
    m.subject,
    `<header><a href="/">← All mail</a></header>
<main>
<h1 data-testid="subject">${escapeHtml(m.subject)}</h1>
<dl class="meta">
<dt>From</dt><dd>${escapeHtml(m.from)}</dd>
<dt>To</dt><dd data-testid="to">${escapeHtml(m.to.join(", "))}</dd>
<dt>Received</dt><dd><time datetime="${escapeHtml(m.receivedAt)}">${escapeHtml(m.receivedAt)}</time></dd>
<dt>Operation</dt><dd><code>${escapeHtml(m.operationId)}</code> (${m.attempts} POST${m.attempts === 1 ? "" : "s"})</dd>
</dl>
<h2>Links</h2>
${links.length ? `<ul class="links">\n${linkItems}\n</ul>` : "<p>No links.</p>"}
<h2>HTML</h2>
${m.html ? `<iframe class="html-body" title="HTML body" data-testid="html-body" sandbox="${iframeSandbox}" referrerpolicy="no-referrer" srcdoc="${escapeHtml(srcdoc)}"></iframe>` : "<p>No HTML body.</p>"}
<h2>Plain text</h2>
<pre data-testid="plain-text">${escapeHtml(m.plainText)}</pre>
</main>`,
  );
}

export function renderApp(url: URL): string {
  const segments = url.pathname.split("/").filter(Boolean).slice(1).map(decodeSegment);
  return page(
    "Product stand-in",
    `<header><a href="/">Mail sink</a></header>
<main>
<h1>Product stand-in</h1>
<p data-testid="app-view">${escapeHtml(describeAppPath(segments))}</p>
<dl class="meta">
<dt>Path</dt><dd><code data-testid="app-path">${escapeHtml(url.pathname)}</code></dd>
<dt>Query</dt><dd><code data-testid="app-query">${escapeHtml(url.search)}</code></dd>
</dl>
<p>The real product would show this page; locally the mail sink stands in for it.</p>
</main>`,
  );
}

/** Names the product page a path points at, e.g. `…/resources/p1/analytics` → "Process analytics for resource p1". */
function describeAppPath(segments: string[]): string {
  const view = segments.at(-1);
  if (view === undefined) return "The product's home page";
  const resourcesAt = segments.indexOf("resources");
  const resourceId = resourcesAt >= 0 ? segments[resourcesAt + 1] : segments.at(-2);
  if (resourceId === undefined || resourceId === view) return `Product page "${segments.join("/")}"`;
  const label = view === "analytics" ? "Process analytics" : view === "details" ? "Details" : `Page "${view}"`;
  return `${label} for resource ${resourceId}`;
}

export function renderNotFound(path: string): string {
  return page(
    "Not found",
    `<header><a href="/">← All mail</a></header>\n<main><h1>Not found</h1><p><code>${escapeHtml(path)}</code></p></main>`,
  );
}

const stylesheet = `
:root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.45; }
body { margin: 0 auto; max-width: 60rem; padding: 1rem; }
header { display: flex; gap: 1rem; align-items: baseline; justify-content: space-between; flex-wrap: wrap; }
h1 { font-size: 1.4rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin-top: 1.5rem; }
ul { padding-left: 1.2rem; }
.messages { list-style: none; padding: 0; }
.message { padding: .6rem 0; border-bottom: 1px solid #8884; display: flex; flex-direction: column; }
.subject { font-weight: 600; overflow-wrap: anywhere; }
.meta { color: #888; font-size: .9rem; overflow-wrap: anywhere; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .2rem .8rem; }
dd { margin: 0; }
.links a { overflow-wrap: anywhere; }
iframe.html-body { width: 100%; height: 60vh; border: 1px solid #8886; background: #fff; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #8881; padding: .8rem; }
a { padding: .15rem 0; }
`;
