/**
 * HTML helpers shared by the email templates and the invitation pages. Everything that did not come
 * from this codebase (names, messages, resource names, ids) goes through {@link escapeHtml}; the
 * templates never build markup from data any other way.
 */

/** Escapes text for HTML content and for single- or double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/**
 * A URL for an `href`: only http(s) URLs are allowed (the links we build), escaped for the attribute.
 * Anything else is a bug on our side, so it throws rather than emitting a `javascript:` link.
 */
export function safeHref(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:")
    throw new Error(`refusing to link to a ${parsed.protocol} URL`);
  return escapeHtml(parsed.href);
}

/** One line of text for a subject or a heading: control characters and line breaks become spaces, long text is cut. */
export function oneLine(text: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** A date as readers see it in an email: `14 March 2026, 09:30 UTC`. */
export function formatDate(iso: string): string {
  const d = new Date(iso);
  const date = d.toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
  const time = d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: "UTC" });
  return `${date}, ${time} UTC`;
}

/**
 * An email's HTML document: inline styles only (mail clients drop `<style>` blocks and external
 * sheets), no scripts, no remote images, one column that reads on a phone.
 */
export function emailDocument(title: string, bodyHtml: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
</head>
<body style="margin:0;padding:0;background:#f5f5f5;">
<div style="max-width:600px;margin:0 auto;padding:24px 16px;font-family:Segoe UI,Helvetica,Arial,sans-serif;font-size:16px;line-height:1.5;color:#201f1e;background:#ffffff;">
${bodyHtml}
</div>
</body>
</html>
`;
}

/** A big link that looks like a button. */
export function buttonLink(href: string, label: string): string {
  return `<p style="margin:24px 0;"><a href="${safeHref(href)}" style="display:inline-block;padding:12px 20px;background:#0f6cbd;color:#ffffff;text-decoration:none;border-radius:4px;font-weight:600;">${escapeHtml(label)}</a></p>`;
}

/** A personal message, quoted, keeping its line breaks. */
export function quotedMessage(message: string): string {
  return `<blockquote style="margin:16px 0;padding:8px 16px;border-left:4px solid #c8c6c4;color:#323130;white-space:pre-wrap;">${escapeHtml(message)}</blockquote>`;
}

/** The plain-text form of a personal message: each line quoted with `> `. */
export function quotedText(message: string): string {
  return message
    .split(/\r\n|\r|\n/)
    .map((line) => `> ${line}`)
    .join("\n");
}
