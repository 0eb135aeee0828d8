import { DomainError } from "../../errors.js";
import type { ReviewDecision, ReviewInstance, ReviewItemView } from "../../model/reviews.js";
import { csrfRefusal, type CsrfInput } from "../../reviews/csrf.js";
import {
  maxContinuationLength,
  parseReviewForm,
  reviewPageSize,
  type EnteredItem,
  type FormDecision,
} from "../../reviews/form.js";
import { verifyReviewToken, type ReviewTokenClaims } from "../../reviews/token.js";

/**
 * The reviewer's page (`/api/review-pages/{token}`, docs/reviews.md): a signed link names one
 * instance, one reviewer key and the person; the page lists that key's items (undecided first, 50 a
 * page) and its form post decides them through the same use case as the API (`decideItems`, via
 * `page`). The signature only proves we sent the link: the instance being open and the person still
 * deciding under the key are checked against stored state on every GET and POST.
 */

/** What the page needs of the review core (shared/usecases/reviews/decisions.ts and the Reviews table). */
export interface ReviewPageCore {
  getRun(envId: string, reviewId: string, instanceId: string): Promise<ReviewInstance | undefined>;
  /** Whether the instance takes decisions now (`openForDecisions`). */
  isOpen(run: ReviewInstance, now: Date): boolean;
  /** Whether the user may decide under the key now (`u.X` is X; `fallback` and `admins` as the design says). */
  mayReviewAs(run: ReviewInstance, userId: string, reviewerKey: string): Promise<boolean>;
  /** The key's items, undecided first; a garbled continuation throws `invalidInput`. */
  reviewerItemsPage(
    run: ReviewInstance,
    reviewerKey: string,
    continuation: string | undefined,
    top: number,
  ): Promise<{ items: ReviewItemView[]; continuation?: string }>;
  /** The API's decision use case: 400 naming `decisions[i].…`, 403, 404, 409 as `DomainError`s. */
  decideItems(
    userId: string,
    run: ReviewInstance,
    decisions: readonly { itemId: string; decision: ReviewDecision; justification?: string }[],
  ): Promise<{ decided: number }>;
  environmentName(envId: string): Promise<string | undefined>;
  /** The display names and emails of users (the items of one page: at most 50, read in parallel). */
  profiles(userIds: readonly string[]): Promise<Map<string, { displayName: string; email: string }>>;
}

export interface ReviewPageDeps {
  clock: () => Date;
  signingKey: string;
  publicBaseUrl: string;
  core: ReviewPageCore;
}

export type ReviewPageRefusal = {
  reason: "invalid" | "expired" | "ended" | "notStarted" | "notAllowed" | "forged";
};

export interface ReviewPageModel {
  reviewName: string;
  environmentName: string;
  endsAt: string;
  justificationRequired: boolean;
  defaultDecision?: "none" | "approve" | "deny";
  items: ReviewItemView[];
  /** The continuation of the page after this one. */
  nextPage?: string;
  isFirstPage: boolean;
  pageSize: number;
}

export type ReviewPageOpened =
  { ok: true; model: ReviewPageModel } | ({ ok: false } & ReviewPageRefusal) | { ok: false; reason: "badPage" };

interface Checked {
  claims: ReviewTokenClaims;
  run: ReviewInstance;
}

/** The link, the instance and the person, each as the stored state says now. */
async function check(
  deps: ReviewPageDeps,
  token: string,
): Promise<{ ok: true; c: Checked } | ({ ok: false } & ReviewPageRefusal)> {
  const now = deps.clock();
  const verified = await verifyReviewToken(deps.signingKey, token, now);
  if (!verified.ok) return { ok: false, reason: verified.reason };
  const claims = verified.claims;
  const run = await deps.core.getRun(claims.env, claims.review, claims.instance);
  // A signed link to an instance that is no longer stored: the review was removed, so it has ended.
  if (!run) return { ok: false, reason: "ended" };
  if (run.status !== "inProgress" || !deps.core.isOpen(run, now))
    return { ok: false, reason: notYet.has(run.phase) && now < new Date(run.endsAt) ? "notStarted" : "ended" };
  if (!(await deps.core.mayReviewAs(run, claims.userId, claims.reviewer))) return { ok: false, reason: "notAllowed" };
  return { ok: true, c: { claims, run } };
}

// Before decisions open: the items are being gathered.
const notYet = new Set<ReviewInstance["phase"]>(["snapshot"]);

async function model(deps: ReviewPageDeps, c: Checked, continuation: string | undefined): Promise<ReviewPageOpened> {
  const { run, claims } = c;
  let page: { items: ReviewItemView[]; continuation?: string };
  let envName: string | undefined;
  try {
    [page, envName] = await Promise.all([
      deps.core.reviewerItemsPage(run, claims.reviewer, continuation, reviewPageSize),
      deps.core.environmentName(run.envId),
    ]);
  } catch (e) {
    if (e instanceof DomainError && e.code === "invalidInput") return { ok: false, reason: "badPage" };
    throw e;
  }
  // The snapshot keeps no names (docs/reviews.md): the page reads the profiles of the users it shows.
  const unnamed = [
    ...new Set(page.items.filter((i) => i.principal.type === "user" && !i.principalName).map((i) => i.principal.id)),
  ];
  const profiles = unnamed.length > 0 ? await deps.core.profiles(unnamed) : new Map();
  const items = page.items.map((i) => {
    const p = i.principal.type === "user" && !i.principalName ? profiles.get(i.principal.id) : undefined;
    return p ? { ...i, principalName: p.displayName, principalEmail: p.email } : i;
  });
  return {
    ok: true,
    model: {
      reviewName: run.definition.displayName,
      environmentName: envName ?? run.envId,
      endsAt: run.endsAt,
      justificationRequired: run.definition.justificationRequired === true,
      ...(run.definition.defaultDecision ? { defaultDecision: run.definition.defaultDecision } : {}),
      items,
      ...(page.continuation ? { nextPage: page.continuation } : {}),
      isFirstPage: continuation === undefined,
      pageSize: reviewPageSize,
    },
  };
}

/** `GET /api/review-pages/{token}[?page=]`: the reviewer's items. Reads only. */
export async function openReviewPage(
  deps: ReviewPageDeps,
  token: string,
  continuation: string | undefined,
): Promise<ReviewPageOpened> {
  const checked = await check(deps, token);
  if (!checked.ok) return checked;
  // Far longer than any continuation the reviewer rows give out: not one of ours.
  if (continuation !== undefined && continuation.length > maxContinuationLength)
    return { ok: false, reason: "badPage" };
  return model(deps, checked.c, continuation);
}

export interface ReviewPagePost {
  body: string;
  contentType: string | null;
  cookieHeader: string | null;
  origin: string | null;
}

export type ReviewPageSubmitted =
  /** Saved: 303 back to the page (`page`: the one the form was on). */
  | { ok: true; saved: number; page?: string }
  | ({ ok: false } & ReviewPageRefusal)
  | { ok: false; reason: "badPage" }
  | { ok: false; reason: "badForm"; errors: string[] }
  /** Refused decisions: the page again, each item's error, and what the person entered. */
  | {
      ok: false;
      reason: "itemErrors";
      model: ReviewPageModel;
      page?: string;
      itemErrors: Record<string, string>;
      entered: Record<string, EnteredItem>;
    };

/**
 * `POST /api/review-pages/{token}`: the form's decisions, saved through `decideItems` (via `page`),
 * all or nothing. Checked in this order: the link (400/410), the form (400), that the form came from
 * the page (403, `shared/reviews/csrf.ts`), the instance and the person (410/409/403).
 */
export async function submitReviewPage(
  deps: ReviewPageDeps,
  token: string,
  post: ReviewPagePost,
): Promise<ReviewPageSubmitted> {
  const verified = await verifyReviewToken(deps.signingKey, token, deps.clock());
  if (!verified.ok) return { ok: false, reason: verified.reason };
  const parsed = parseReviewForm(post.body, post.contentType);
  const csrf: CsrfInput = {
    signingKey: deps.signingKey,
    publicBaseUrl: deps.publicBaseUrl,
    linkToken: token,
    cookieHeader: post.cookieHeader,
    origin: post.origin,
    field: parsed.ok ? parsed.form.csrf : undefined,
  };
  // A post that did not come from the page is told so first, whatever else is wrong with it.
  const refusal = csrfRefusal(csrf);
  if (refusal === "origin" || refusal === "noCookie") return { ok: false, reason: "forged" };
  if (!parsed.ok) return { ok: false, reason: "badForm", errors: parsed.errors };
  if (refusal !== undefined) return { ok: false, reason: "forged" };
  const form = parsed.form;

  const checked = await check(deps, token);
  if (!checked.ok) return checked;
  const { run, claims } = checked.c;
  if (form.decisions.length === 0) return { ok: true, saved: 0, ...(form.page ? { page: form.page } : {}) };
  try {
    const r = await deps.core.decideItems(claims.userId, run, form.decisions);
    return { ok: true, saved: r.decided, ...(form.page ? { page: form.page } : {}) };
  } catch (e) {
    if (!(e instanceof DomainError)) throw e;
    switch (e.code) {
      case "invalidInput": {
        const itemErrors = perItem(form.decisions, e);
        if (Object.keys(itemErrors).length === 0) return { ok: false, reason: "badForm", errors: [e.message] };
        const again = await model(deps, checked.c, form.page);
        if (!again.ok) return again;
        return {
          ok: false,
          reason: "itemErrors",
          model: again.model,
          ...(form.page ? { page: form.page } : {}),
          itemErrors,
          entered: form.entered,
        };
      }
      case "notFound":
        return { ok: false, reason: "badForm", errors: [`Some items are not in this review: ${e.message}`] };
      case "forbidden":
        return { ok: false, reason: "notAllowed" };
      case "conflict":
        // The instance closed between the check and the decision (its end, or its completion).
        return { ok: false, reason: "ended" };
      default:
        throw e;
    }
  }
}

/** The use case's field errors (`decisions[i].justification`) as sentences per item. */
function perItem(decisions: readonly FormDecision[], e: DomainError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of e.errors) {
    const m = /^(?:body\.)?decisions\[(\d+)\](?:\.(\w+))?/.exec(f.field);
    const d = m ? decisions[Number(m[1])] : undefined;
    if (!d) continue;
    out[d.itemId] =
      m?.[2] === "justification"
        ? d.justification === undefined
          ? "A justification is required for this review: write why."
          : `The justification was not accepted: ${f.message}.`
        : `This decision was not accepted: ${f.message}.`;
  }
  return out;
}
