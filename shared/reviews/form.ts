import { idSchema } from "../model/records.js";
import { reviewDecisionSchema, type ReviewDecision } from "../model/reviews.js";

/**
 * The reviewer page's form post (`application/x-www-form-urlencoded`): `csrf`, and per item
 * `decision.{itemId}` (approve, deny or dontKnow) and `justification.{itemId}`. Bounded: a page
 * shows at most `reviewPageSize` items, so a post naming more is not from the page. An item with no
 * radio chosen is no decision (its justification, if any, is kept only to show it again).
 */

export const reviewPageSize = 50;
/** 50 justifications of 1,000 characters, percent-encoded (up to 9 bytes a character), and the rest. */
export const maxReviewFormBytes = 512 * 1024;
export const maxJustificationLength = 1000;
/** A page's continuation (`?page=`, the form's `page`): the reviewer rows' tokens are far shorter. */
export const maxContinuationLength = 2000;
/** csrf, the page continuation, and two fields an item. */
const maxFields = 2 + 2 * reviewPageSize;

export interface FormDecision {
  itemId: string;
  decision: ReviewDecision;
  justification?: string;
}

/** What the person entered for an item, to show again after a refused post. */
export interface EnteredItem {
  decision?: ReviewDecision;
  justification?: string;
}

export interface ReviewForm {
  csrf?: string;
  /** The page the form was on (`?page=`), to come back to after saving. */
  page?: string;
  decisions: FormDecision[];
  entered: Record<string, EnteredItem>;
}

export type ReviewFormParse = { ok: true; form: ReviewForm } | { ok: false; errors: string[] };

/** The form post's body, checked; `errors` says what was wrong in words a person reads. */
export function parseReviewForm(text: string, contentType: string | null): ReviewFormParse {
  if (!contentType || !/^application\/x-www-form-urlencoded\b/i.test(contentType.trim()))
    return { ok: false, errors: ["The form must be sent as application/x-www-form-urlencoded."] };
  if (Buffer.byteLength(text) > maxReviewFormBytes)
    return { ok: false, errors: [`The form is larger than ${maxReviewFormBytes} bytes.`] };
  const params = new URLSearchParams(text);
  const errors: string[] = [];
  const seen = new Set<string>();
  const entered: Record<string, EnteredItem> = {};
  const form: ReviewForm = { decisions: [], entered };
  let fields = 0;
  for (const [name, value] of params) {
    if (++fields > maxFields) {
      errors.push(`The form has more than ${maxFields} fields: a page shows at most ${reviewPageSize} items.`);
      break;
    }
    if (seen.has(name)) {
      errors.push(`The field ${shortName(name)} is sent more than once.`);
      continue;
    }
    seen.add(name);
    if (name === "csrf") {
      form.csrf = value;
      continue;
    }
    if (name === "page") {
      if (value.length > maxContinuationLength) errors.push("The page field is too long.");
      else if (value !== "") form.page = value;
      continue;
    }
    const m = /^(decision|justification)\.(.*)$/s.exec(name);
    if (!m) {
      errors.push(`The field ${shortName(name)} is not one this form has.`);
      continue;
    }
    const [, what, itemId] = m as unknown as [string, "decision" | "justification", string];
    if (!idSchema.safeParse(itemId).success) {
      errors.push(`The field ${shortName(name)} does not name an item.`);
      continue;
    }
    const item = (entered[itemId] ??= {});
    if (what === "decision") {
      const d = reviewDecisionSchema.safeParse(value);
      if (d.success) item.decision = d.data;
      else errors.push(`The decision for item ${itemId} must be approve, deny or don't know.`);
    } else if (value.length > maxJustificationLength) {
      errors.push(`The justification for item ${itemId} is longer than ${maxJustificationLength} characters.`);
    } else {
      const trimmed = value.trim();
      if (trimmed !== "") item.justification = trimmed;
    }
  }
  if (Object.keys(entered).length > reviewPageSize)
    errors.push(`The form names more than ${reviewPageSize} items: a page shows at most ${reviewPageSize}.`);
  if (errors.length > 0) return { ok: false, errors: errors.slice(0, 10) };
  for (const [itemId, e] of Object.entries(entered)) {
    if (e.decision === undefined) continue;
    form.decisions.push({
      itemId,
      decision: e.decision,
      ...(e.justification !== undefined ? { justification: e.justification } : {}),
    });
  }
  return { ok: true, form };
}

/** A field name as an error names it: bounded, so a hostile name doesn't fill the page. */
function shortName(name: string): string {
  return JSON.stringify(name.length > 60 ? `${name.slice(0, 59)}…` : name);
}
