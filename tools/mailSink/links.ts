/** The links of an email, as the message page lists them. */
import type { SinkMessage } from "./store.js";

/** Every href in the HTML body, then every URL in the plain text, once each, in order. */
export function extractLinks(message: Pick<SinkMessage, "html" | "plainText">): string[] {
  const found: string[] = [];
  for (const match of message.html.matchAll(/<a\b[^>]*?\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))/gi)) {
    const raw = match[1] ?? match[2] ?? match[3];
    if (raw !== undefined) found.push(decodeEntities(raw).trim());
  }
  for (const match of message.plainText.matchAll(/https?:\/\/[^\s<>"']+/gi)) {
    // A sentence's closing punctuation is rarely part of the URL.
    found.push(match[0].replace(/[.,;:!?)\]]+$/, ""));
  }
  return [...new Set(found.filter((href) => href !== ""))];
}

export function isNavigable(href: string): boolean {
  // Parsed as a browser parses it (Node's URL is the WHATWG parser), so " java\tscript:" tricks are
  // seen for what they are; relative links resolve to the sink's own http: origin.
  try {
    return ["http:", "https:", "mailto:"].includes(new URL(href, "http://sink.invalid/").protocol);
  } catch {
    return false;
  }
}

const namedEntities: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };

/** Decodes the character references an href attribute is likely to hold (the common named ones and numeric ones). */
function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref.startsWith("#")) {
      const code =
        ref[1] === "x" || ref[1] === "X" ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return namedEntities[ref.toLowerCase()] ?? whole;
  });
}
