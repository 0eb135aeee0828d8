import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { prefixEnd } from "../../shared/ports/rows.js";

// prefixEnd bounds every prefix query (search, index, outbox scans); its result travels in a
// request URL, so it must stay encodable, and the range must hold exactly the strings with the prefix.
const seed = Number(process.env.FUZZ_SEED ?? 20_261_123);
const wellFormed = fc.string({
  unit: fc.oneof(
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
    fc.constantFrom("\u{1F3FF}", "\u{10FFFF}", "\uD7FF", "\uFFFF", "\uE000", "|", "a"),
  ),
  minLength: 1,
  maxLength: 8,
});

describe("prefixEnd", () => {
  it("every string starting with the prefix sorts inside [prefix, prefixEnd), and the bound is well-formed and URL-encodable", () => {
    fc.assert(
      fc.property(
        wellFormed.filter((p) => !/^\uFFFF+$/.test(p)),
        wellFormed,
        (prefix, suffix) => {
          const end = prefixEnd(prefix);
          expect(prefix + suffix >= prefix).toBe(true);
          expect(prefix + suffix < end).toBe(true);
          expect(prefix < end).toBe(true);
          expect(/[\uD800-\uDFFF]/u.test(end)).toBe(false);
          expect(() => encodeURIComponent(end)).not.toThrow();
        },
      ),
      { seed, numRuns: 5000 },
    );
  });

  it("no well-formed string without the prefix sorts inside the range", () => {
    fc.assert(
      fc.property(
        wellFormed.filter((p) => !/^\uFFFF+$/.test(p)),
        wellFormed,
        (prefix, other) => {
          fc.pre(!other.startsWith(prefix));
          const end = prefixEnd(prefix);
          expect(other >= prefix && other < end).toBe(false);
        },
      ),
      { seed, numRuns: 5000 },
    );
  });
});
