import { parse, type Filter } from "scim2-parse-filter";
import { scimInvalid } from "./errors.js";

/** One `attribute eq value` term of a filter; `attribute` is the canonical name asked for. */
export interface EqTerm<A extends string> {
  attribute: A;
  value: string;
}

/** A core schema prefix an attribute path may carry (`urn:…:User:userName`). */
const corePrefix = /^urn:ietf:params:scim:schemas:core:2\.0:(user|group):/i;

/**
 * Parses a SCIM filter (RFC 7644 §3.4.2.2) with `scim2-parse-filter` and accepts only what this
 * service answers: `eq` on the given attributes (names matched without regard to case, with or
 * without the core schema's URN), joined by `and`. Anything else is a 400 `invalidFilter`.
 */
export function parseEqFilter<A extends string>(text: string, attributes: readonly A[]): EqTerm<A>[] {
  let ast: Filter;
  try {
    ast = parse(text);
  } catch (e) {
    throw scimInvalid("invalidFilter", `the filter is not valid SCIM filter syntax: ${String((e as Error).message)}`);
  }
  const terms: EqTerm<A>[] = [];
  const walk = (f: Filter): void => {
    if (f.op === "and" && "filters" in f) {
      f.filters.forEach(walk);
      return;
    }
    if (f.op !== "eq" || !("compValue" in f))
      throw scimInvalid("invalidFilter", `only eq and and are supported in filters, not ${f.op}`);
    const name = f.attrPath.replace(corePrefix, "");
    const attribute = attributes.find((a) => a.toLowerCase() === name.toLowerCase());
    if (!attribute)
      throw scimInvalid("invalidFilter", `filtering on ${f.attrPath} is not supported; use ${attributes.join(", ")}`);
    if (typeof f.compValue !== "string")
      throw scimInvalid("invalidFilter", `${attribute} is compared with a string in quotes`);
    terms.push({ attribute, value: f.compValue });
  };
  walk(ast);
  return terms;
}
