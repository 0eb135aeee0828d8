/**
 * Hostile values, how to put them on a request line, and tags that say what a value tries, so the
 * fuzz run can prove its mix (every kind of attack was really sent) rather than assume it.
 */
import fc from "fast-check";

export type Tag =
  | "quote"
  | "pipe"
  | "slash"
  | "pct2F"
  | "odata"
  | "traversal"
  | "loneSurrogate"
  | "rtl"
  | "zeroWidth"
  | "nul"
  | "longId"
  | "astral"
  | "badPercent"
  | "wrongType"
  | "missingField"
  | "extraField"
  | "protoKey"
  | "deepNesting"
  | "body256k"
  | "body1m"
  | "notJson"
  | "invalidUtf8"
  | "wrongContentType"
  | "noContentType"
  | "noToken"
  | "badToken"
  | "validToken"
  | "wrongMethod"
  | "extraQuery"
  | "validish"
  | "idempotencyKey";

/** What a string tries; a string may try several things. */
export function classify(s: string, tags: Set<Tag>): void {
  if (s.includes("'")) tags.add("quote");
  if (s.includes("|")) tags.add("pipe");
  if (s.includes("/") || s.includes("\\")) tags.add("slash");
  if (/%2f/i.test(s)) tags.add("pct2F");
  if (/\b(eq|ne|or|and|gt|ge|lt|le)\b/.test(s) && s.includes("'")) tags.add("odata");
  if (s.includes("..")) tags.add("traversal");
  if (/[\uD800-\uDFFF]/u.test(s)) tags.add("loneSurrogate");
  if (/[\u202A-\u202E\u2066-\u2069\u200F\u061C]/.test(s)) tags.add("rtl");
  if (/[\u200B-\u200D\u2060\uFEFF]/.test(s)) tags.add("zeroWidth");
  if (s.includes("\0") || /%00/.test(s)) tags.add("nul");
  if (s.length > 128) tags.add("longId");
  if (/[\u{10000}-\u{10FFFF}]/u.test(s)) tags.add("astral");
}

/**
 * Values aimed at the storage layout (`{envId}|{resourceId}` partition keys, `grant|type|id|role`
 * row keys) and at OData filters, plus the usual suspects. `targets` are real ids of the world, so
 * an escape would land on real rows.
 */
export function hostileConstants(targets: { envIds: string[]; resourceIds: string[]; userIds: string[] }): string[] {
  const [env = "env", otherEnv = "other"] = targets.envIds;
  const [res = "res"] = targets.resourceIds;
  const [user = "user"] = targets.userIds;
  return [
    "'",
    "''",
    "' or PartitionKey ne '",
    "' or 1 eq 1 or '",
    `${res}' or PartitionKey eq '${otherEnv}|${res}`,
    `${env}|${res}`,
    `${otherEnv}|${res}`,
    `${res}|grant|user|${user}|owner`,
    `grant|user|${user}|owner`,
    `x') or (PartitionKey ge '`,
    "RowKey ge '' and RowKey lt '~'",
    "$filter=PartitionKey ne ''",
    "*",
    "..",
    "../..",
    `../${otherEnv}`,
    "..%2F..%2F",
    "%2F",
    "%2e%2e%2f",
    "a/b",
    "a\\b",
    "/",
    "\0",
    `${user}\0`,
    "a\u0000b",
    "\u202Eevil\u202C",
    "\u200F\u05D0\u05D1",
    "\u200B",
    `${user}\u200B`,
    "\uFEFF",
    "\uD800",
    "x\uDBFF",
    "\uDC00x",
    "\uD83D\uDE42",
    "\u{1F3FF}",
    "\u{10FFFF}",
    "\u0130",
    "e\u0301",
    "\r\n",
    "\u0085",
    "<script>alert(1)</script>",
    "${jndi:ldap://127.0.0.1/a}",
    "{{7*7}}",
    "null",
    "undefined",
    "true",
    "-1",
    "1e309",
    "NaN",
    " ",
    "",
    "%",
    "%zz",
    "a".repeat(129),
    `${user}${"a".repeat(128)}`,
    "x".repeat(3000),
    "?#&;=",
    "__proto__",
    "constructor",
  ];
}

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const oddUnit = fc.oneof(
  loneSurrogate,
  fc.constantFrom(
    "\u202E",
    "\u200B",
    "\u200D",
    "\uFEFF",
    "\0",
    "'",
    "|",
    "/",
    "%",
    "\\",
    "\u{1F3FF}",
    "\u{10FFFF}",
    "a",
    "0",
    ".",
    "-",
  ),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
);

/** A hostile string: a constant aimed at the layout, random full Unicode, or a mix with lone surrogates. */
export function hostileString(targets: Parameters<typeof hostileConstants>[0]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...hostileConstants(targets)) },
    { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
    { weight: 2, arbitrary: fc.string({ unit: oddUnit, minLength: 1, maxLength: 16 }) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }) },
  );
}

/**
 * Percent-encodes every UTF-16 unit that is not unreserved. A lone surrogate becomes the bytes a
 * careless encoder would send (its 3-byte form, invalid UTF-8), where encodeURIComponent throws.
 */
export function encodeComponent(s: string): string {
  let out = "";
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (code >= 0xd800 && code <= 0xdfff) {
      out += [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)]
        .map((b) => `%${b.toString(16).toUpperCase()}`)
        .join("");
    } else {
      out += encodeURIComponent(ch).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    }
  }
  return out;
}

/**
 * Leaves what a request line may carry as it is (so `/`, `..`, `'`, `|` and `%2F` arrive raw) and
 * encodes the rest. A `%` not followed by two hex digits is kept too: a badly encoded path.
 */
export function encodeRaw(s: string): string {
  let out = "";
  for (const ch of s) {
    out += /^[A-Za-z0-9._~!$&'()*+,;=:@/|%-]$/.test(ch) ? ch : encodeComponent(ch);
  }
  return out;
}

export type Encoding = "component" | "raw" | "double";

export function encodeAs(s: string, how: Encoding): string {
  if (how === "raw") return encodeRaw(s);
  if (how === "double") return encodeURIComponent(encodeComponent(s));
  return encodeComponent(s);
}

/** Nested arrays and objects `depth` deep, as JSON text (built as text: no recursion here). */
export function deepJson(depth: number, kind: "array" | "object"): string {
  return kind === "array"
    ? "[".repeat(depth) + "1" + "]".repeat(depth)
    : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
}
