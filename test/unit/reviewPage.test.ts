import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { reviewBadFormPage, reviewItemsPage, reviewRefusalPage } from "../../shared/adapters/http/reviewPages.js";
import { invalid, forbidden, conflict, notFound } from "../../shared/errors.js";
import type { ReviewDecision, ReviewInstance, ReviewItemView } from "../../shared/model/reviews.js";
import {
  csrfCookieName,
  csrfCookieOf,
  csrfField,
  csrfRefusal,
  csrfSetCookie,
  newCsrfCookieValue,
  type CsrfInput,
} from "../../shared/reviews/csrf.js";
import { maxReviewFormBytes, parseReviewForm } from "../../shared/reviews/form.js";
import { signReviewToken } from "../../shared/reviews/token.js";
import { openForDecisions } from "../../shared/usecases/reviews/decisions.js";
import {
  openReviewPage,
  submitReviewPage,
  type ReviewPageCore,
  type ReviewPageDeps,
} from "../../shared/usecases/reviews/page.js";

const key = "k".repeat(48);
const base = "https://sharing.example.com";
const form = "application/x-www-form-urlencoded";

describe("the reviewer page's CSRF token", () => {
  const cookie = newCsrfCookieValue();
  const token = "a.b.c";
  const ok: CsrfInput = {
    signingKey: key,
    publicBaseUrl: base,
    linkToken: token,
    cookieHeader: `other=1; ${csrfCookieName}=${cookie}`,
    origin: base,
    field: csrfField(key, cookie, token),
  };

  it("passes with the cookie and its field, with or without an Origin header", () => {
    expect(csrfRefusal(ok)).toBeUndefined();
    expect(csrfRefusal({ ...ok, origin: null })).toBeUndefined();
  });

  it("refuses a foreign or opaque Origin, a missing or malformed cookie, a missing field, and any mismatch", () => {
    expect(csrfRefusal({ ...ok, origin: "https://evil.example" })).toBe("origin");
    expect(csrfRefusal({ ...ok, origin: "null" })).toBe("origin");
    expect(csrfRefusal({ ...ok, origin: "http://sharing.example.com" })).toBe("origin");
    expect(csrfRefusal({ ...ok, cookieHeader: null })).toBe("noCookie");
    expect(csrfRefusal({ ...ok, cookieHeader: `${csrfCookieName}=short` })).toBe("noCookie");
    expect(csrfRefusal({ ...ok, field: undefined })).toBe("noField");
    expect(csrfRefusal({ ...ok, field: "x" })).toBe("noField");
    // Another cookie (another browser), the field of another link, another key: each a mismatch.
    expect(csrfRefusal({ ...ok, cookieHeader: `${csrfCookieName}=${newCsrfCookieValue()}` })).toBe("mismatch");
    expect(csrfRefusal({ ...ok, field: csrfField(key, cookie, "other.link.token") })).toBe("mismatch");
    expect(csrfRefusal({ ...ok, field: csrfField("z".repeat(48), cookie, token) })).toBe("mismatch");
  });

  it("reads only a well-formed cookie, and sets it HttpOnly, SameSite=Strict, on the pages' path, Secure on https", () => {
    expect(csrfCookieOf(`${csrfCookieName}=${cookie}`)).toBe(cookie);
    expect(csrfCookieOf(`x${csrfCookieName}=${cookie}`)).toBeUndefined();
    expect(csrfCookieOf("")).toBeUndefined();
    expect(csrfSetCookie(cookie, base)).toBe(
      `${csrfCookieName}=${cookie}; Path=/api/review-pages/; HttpOnly; SameSite=Strict; Secure`,
    );
    expect(csrfSetCookie(cookie, "http://localhost:7071")).not.toContain("Secure");
    expect(newCsrfCookieValue()).not.toBe(cookie);
  });
});

describe("the reviewer page's form", () => {
  it("reads decisions and justifications; an item with no radio chosen is no decision", () => {
    const body = new URLSearchParams({
      csrf: "c",
      page: "next",
      "decision.item1": "approve",
      "decision.item2": "deny",
      "justification.item2": "  left the team  ",
      "justification.item3": "thinking about it",
      "justification.item4": "   ",
    }).toString();
    const r = parseReviewForm(body, `${form}; charset=utf-8`);
    expect(r).toEqual({
      ok: true,
      form: {
        csrf: "c",
        page: "next",
        decisions: [
          { itemId: "item1", decision: "approve" },
          { itemId: "item2", decision: "deny", justification: "left the team" },
        ],
        entered: {
          item1: { decision: "approve" },
          item2: { decision: "deny", justification: "left the team" },
          item3: { justification: "thinking about it" },
          item4: {},
        },
      },
    });
  });

  it("refuses what the page never sends, saying what was wrong", () => {
    const bad = (body: string, type: string | null = form) => {
      const r = parseReviewForm(body, type);
      expect(r.ok).toBe(false);
      return r.ok ? [] : r.errors.join(" ");
    };
    expect(bad("{}", "application/json")).toMatch(/x-www-form-urlencoded/);
    expect(bad("a=1", null)).toMatch(/x-www-form-urlencoded/);
    expect(bad("decision.i1=maybe")).toMatch(/item i1 must be approve, deny or don't know/);
    expect(bad("decision.i1=approve&decision.i1=deny")).toMatch(/"decision.i1" is sent more than once/);
    expect(bad("admin=true")).toMatch(/"admin" is not one this form has/);
    expect(bad("decision.bad%20id=approve")).toMatch(/does not name an item/);
    expect(bad(`justification.i1=${"x".repeat(1001)}`)).toMatch(/longer than 1000 characters/);
    const many = Array.from({ length: 51 }, (_, i) => `decision.i${i}=approve`).join("&");
    expect(bad(many)).toMatch(/more than 50 items/);
    const fields = Array.from({ length: 103 }, (_, i) => `justification.i${i % 40}x${i}=a`).join("&");
    expect(bad(fields)).toMatch(/more than 102 fields/);
    expect(bad(`csrf=${"x".repeat(maxReviewFormBytes)}`)).toMatch(/larger than/);
  });
});

// ---- the use case, over a core held in memory (the core's own tests cover storage) ----

const now = new Date("2026-03-01T10:00:00Z");
const endsAt = new Date("2026-03-08T10:00:00Z");

function item(n: number, decision?: ReviewDecision): ReviewItemView {
  return {
    itemId: `item${n}`,
    resourceId: `res${n}`,
    kind: "processMining",
    resourceName: `Process <${n}>`,
    principal: { type: "user", id: `user${n}` },
    principalName: `Person ${n}`,
    principalEmail: `p${n}@example.com`,
    guest: n % 2 === 0,
    role: "viewer",
    since: "2025-06-01T00:00:00Z",
    grantedBy: "owner1",
    via: n % 3 === 0 ? "invitation" : "direct",
    ...(decision ? { decision, decidedBy: "owner1", decidedAt: "2026-03-01T09:00:00Z" } : {}),
  };
}

function run(over: Partial<ReviewInstance> = {}, justificationRequired = false): ReviewInstance {
  return {
    envId: "env1",
    reviewId: "rev1",
    instanceId: "inst1",
    status: "inProgress",
    phase: "open",
    trigger: "request",
    startedBy: "admin1",
    createdAt: "2026-03-01T00:00:00Z",
    endsAt: endsAt.toISOString(),
    remindAt: "2026-03-04T10:00:00Z",
    definition: {
      reviewId: "rev1",
      envId: "env1",
      displayName: "Quarterly guests",
      scope: {},
      reviewers: "owners",
      durationDays: 7,
      justificationRequired,
      createdAt: "2026-02-01T00:00:00Z",
      updatedAt: "2026-02-01T00:00:00Z",
      updatedBy: "admin1",
    },
    counts: { items: 2, approve: 0, deny: 0, dontKnow: 0, undecided: 2 },
    applyCounts: { applied: 0, alreadyGone: 0, failed: 0 },
    ...over,
  };
}

function fakeCore(r: ReviewInstance | undefined, allowed = true) {
  // Item 2 as the snapshot writes it (no name); item 9's user is gone from the directory.
  const unnamed = (n: number) => {
    const { principalName: _n, principalEmail: _e, ...rest } = item(n);
    return rest;
  };
  const items = [item(1), unnamed(2), unnamed(9)];
  const decided: unknown[] = [];
  const profileReads: string[][] = [];
  const core: ReviewPageCore = {
    getRun: async () => r,
    isOpen: openForDecisions,
    mayReviewAs: async (_run, userId, k) => allowed && userId === "owner1" && k === "u.owner1",
    reviewerItemsPage: async (_run, _k, continuation) => {
      if (continuation !== undefined && continuation !== "p2") throw invalid("bad continuation");
      return continuation ? { items: [] } : { items, continuation: "p2" };
    },
    decideItems: async (userId, _run, ds) => {
      if (r?.definition.justificationRequired) {
        const missing = ds.flatMap((d, i) => (d.justification ? [] : [i]));
        if (missing.length > 0)
          throw invalid(
            "justification required",
            missing.map((i) => ({ field: `decisions[${i}].justification`, message: "required" })),
          );
      }
      if (ds.some((d) => d.itemId === "gone")) throw notFound("gone");
      if (ds.some((d) => d.itemId === "theirs")) throw forbidden("not yours");
      if (ds.some((d) => d.itemId === "late")) throw conflict("closed");
      decided.push({ userId, ds });
      return { decided: ds.length };
    },
    environmentName: async () => "Finance",
    profiles: async (ids) => {
      profileReads.push([...ids]);
      return new Map(
        ids
          .filter((id) => id !== "user9")
          .map((id) => [id, { displayName: `Name of ${id}`, email: `${id}@x.example` }]),
      );
    },
  };
  const deps: ReviewPageDeps = { clock: () => now, signingKey: key, publicBaseUrl: base, core };
  return { deps, decided, profileReads };
}

const link = (over: { expiresAt?: Date; reviewer?: string; userId?: string } = {}) =>
  signReviewToken(
    key,
    {
      env: "env1",
      review: "rev1",
      instance: "inst1",
      reviewer: over.reviewer ?? "u.owner1",
      userId: over.userId ?? "owner1",
      expiresAt: over.expiresAt ?? endsAt,
    },
    new Date(now.getTime() - 60_000),
  );

describe("openReviewPage", () => {
  it("shows the reviewer's first page with the next page's continuation, and a later page", async () => {
    const { deps, profileReads } = fakeCore(run({}, true));
    const opened = await openReviewPage(deps, await link(), undefined);
    expect(profileReads).toEqual([["user2", "user9"]]);
    if (!opened.ok) throw new Error(opened.reason);
    expect(opened.model).toMatchObject({
      reviewName: "Quarterly guests",
      environmentName: "Finance",
      justificationRequired: true,
      nextPage: "p2",
      isFirstPage: true,
      pageSize: 50,
    });
    expect(opened.model.items.map((i) => i.itemId)).toEqual(["item1", "item2", "item9"]);
    // Names the snapshot didn't keep are read for this page's users only, once.
    expect(opened.model.items.map((i) => [i.principalName, i.principalEmail])).toEqual([
      ["Person 1", "p1@example.com"],
      ["Name of user2", "user2@x.example"],
      [undefined, undefined],
    ]);
    const second = await openReviewPage(deps, await link(), "p2");
    expect(second.ok && second.model.isFirstPage === false && second.model.items.length === 0).toBe(true);
  });

  it("refuses a garbled or forged link, an expired one, an ended, unstarted or missing instance, a person no longer allowed, a changed page", async () => {
    const reason = async (deps: ReviewPageDeps, token: string | Promise<string>, cont?: string) => {
      const r = await openReviewPage(deps, await token, cont);
      return r.ok ? "ok" : r.reason;
    };
    const open = fakeCore(run()).deps;
    expect(await reason(open, "garbled")).toBe("invalid");
    const forged = await signReviewToken("f".repeat(48), {
      env: "env1",
      review: "rev1",
      instance: "inst1",
      reviewer: "u.owner1",
      userId: "owner1",
      expiresAt: endsAt,
    });
    expect(await reason(open, forged)).toBe("invalid");
    expect(await reason(open, link({ expiresAt: new Date(now.getTime() - 1000) }))).toBe("expired");
    expect(await reason(fakeCore(run({ status: "completed", phase: "finish" })).deps, link())).toBe("ended");
    expect(await reason(fakeCore(run({ endsAt: now.toISOString() })).deps, link())).toBe("ended");
    expect(await reason(fakeCore(run({ phase: "snapshot" })).deps, link())).toBe("notStarted");
    expect(await reason(fakeCore(run({ phase: "notify" })).deps, link())).toBe("ok");
    expect(await reason(fakeCore(undefined).deps, link())).toBe("ended");
    expect(await reason(fakeCore(run(), false).deps, link())).toBe("notAllowed");
    expect(await reason(open, link({ userId: "someoneElse" }))).toBe("notAllowed");
    expect(await reason(open, link(), "tampered")).toBe("badPage");
    expect(await reason(open, link(), "p".repeat(2001))).toBe("badPage");
  });
});

describe("submitReviewPage", () => {
  async function post(
    deps: ReviewPageDeps,
    fields: Record<string, string>,
    over: Partial<{ cookie: string | null; origin: string | null; token: string }> = {},
  ) {
    const token = over.token ?? (await link());
    const cookie = newCsrfCookieValue();
    return submitReviewPage(deps, token, {
      body: new URLSearchParams({ csrf: csrfField(key, cookie, token), ...fields }).toString(),
      contentType: form,
      cookieHeader: over.cookie === undefined ? `${csrfCookieName}=${cookie}` : over.cookie,
      origin: over.origin === undefined ? base : over.origin,
    });
  }

  it("saves the chosen decisions through decideItems as the link's person, and comes back to the page", async () => {
    const { deps, decided } = fakeCore(run());
    const r = await post(deps, {
      page: "p2",
      "decision.item1": "approve",
      "decision.item2": "deny",
      "justification.item2": "no longer needed",
    });
    expect(r).toEqual({ ok: true, saved: 2, page: "p2" });
    expect(decided).toEqual([
      {
        userId: "owner1",
        ds: [
          { itemId: "item1", decision: "approve" },
          { itemId: "item2", decision: "deny", justification: "no longer needed" },
        ],
      },
    ]);
    expect(await post(deps, { "justification.item1": "only words" })).toEqual({ ok: true, saved: 0 });
    expect(decided).toHaveLength(1);
  });

  it("refuses a post without the form's token or cookie, or from another origin, before anything is read or saved", async () => {
    const { deps, decided } = fakeCore(run());
    const d = { "decision.item1": "approve" };
    expect(await post(deps, d, { cookie: null })).toEqual({ ok: false, reason: "forged" });
    expect(await post(deps, d, { origin: "https://evil.example" })).toEqual({ ok: false, reason: "forged" });
    const token = await link();
    const noField = await submitReviewPage(deps, token, {
      body: "decision.item1=approve",
      contentType: form,
      cookieHeader: `${csrfCookieName}=${newCsrfCookieValue()}`,
      origin: null,
    });
    expect(noField).toEqual({ ok: false, reason: "forged" });
    // Without a cookie, even a body that can't be read is told it didn't come from the page.
    expect(
      await submitReviewPage(deps, token, {
        body: "{}",
        contentType: "application/json",
        cookieHeader: null,
        origin: null,
      }),
    ).toEqual({ ok: false, reason: "forged" });
    expect(decided).toEqual([]);
  });

  it("refuses a bad form (400), a bad link, and decisions the core refuses, saying which item and keeping what was entered", async () => {
    const { deps } = fakeCore(run({}, true));
    const bad = await post(deps, { "decision.item1": "perhaps" });
    expect(bad.ok === false && bad.reason === "badForm" && bad.errors[0]).toMatch(/approve, deny or don't know/);
    expect(await post(deps, {}, { token: "garbled" })).toEqual({ ok: false, reason: "invalid" });
    const refused = await post(deps, {
      "decision.item1": "approve",
      "justification.item1": "still needed",
      "decision.item2": "deny",
    });
    if (refused.ok || refused.reason !== "itemErrors") throw new Error(JSON.stringify(refused));
    expect(refused.itemErrors).toEqual({ item2: "A justification is required for this review: write why." });
    expect(refused.entered).toEqual({
      item1: { decision: "approve", justification: "still needed" },
      item2: { decision: "deny" },
    });
    expect(refused.model.items).toHaveLength(3);

    const plain = fakeCore(run()).deps;
    expect(await post(plain, { "decision.gone": "approve" })).toMatchObject({ ok: false, reason: "badForm" });
    expect(await post(plain, { "decision.theirs": "approve" })).toEqual({ ok: false, reason: "notAllowed" });
    expect(await post(plain, { "decision.late": "approve" })).toEqual({ ok: false, reason: "ended" });
    expect(
      await post(fakeCore(run({ status: "completed", phase: "done" })).deps, { "decision.item1": "approve" }),
    ).toEqual({ ok: false, reason: "ended" });
  });
});

describe("the reviewer page's HTML", () => {
  const model = {
    reviewName: "Guests <script>",
    environmentName: "Finance & Co",
    endsAt: endsAt.toISOString(),
    justificationRequired: true,
    defaultDecision: "deny" as const,
    items: [item(1, "approve"), item(2), item(3)],
    nextPage: "p2",
    isFirstPage: true,
    pageSize: 50,
  };

  it("is a form of fieldsets with labelled radios and textareas, escaped, under a CSP that allows its styles by hash", () => {
    const res = reviewItemsPage(model, "tok.en.x", { csrf: "CSRF", saved: 2 });
    const html = String(res.body);
    expect(res.status).toBe(200);
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('name="viewport"');
    expect(html).not.toContain("<script");
    expect(html).toContain("Guests &lt;script&gt;");
    expect(html).toContain("Process &lt;1&gt;");
    expect(html).toContain('<p class="notice" role="status">Saved 2 decisions.</p>');
    expect(html).toContain('<input type="hidden" name="csrf" value="CSRF">');
    expect(html.match(/<fieldset /g)).toHaveLength(3);
    expect(html.match(/<legend>/g)).toHaveLength(3);
    expect(html).toContain('<input type="radio" name="decision.item1" value="approve" checked>');
    expect(html).toContain('<label class="block" for="just-item2">Justification (required)</label>');
    expect(html).toContain('<textarea id="just-item2" name="justification.item2"');
    expect(html).toContain('<span class="badge">Guest</span>');
    expect(html).toContain("accepted an invitation");
    expect(html).toContain('href="/api/review-pages/tok.en.x?page=p2" rel="next">Next page</a>');
    expect(html).toContain("undecided access is removed");
    const csp = (res.headers as Record<string, string>)["content-security-policy"];
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1] ?? "");
    expect(styles).toHaveLength(2);
    for (const s of styles) expect(csp).toContain(`'sha256-${createHash("sha256").update(s).digest("base64")}'`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("form-action 'self'");
    // The form's POST must carry our Origin: no-referrer would make it `null` (refused).
    expect((res.headers as Record<string, string>)["referrer-policy"]).toBe("same-origin");
  });

  it("sets every colour as a text and background pair of at least 4.5:1 (WCAG AA)", () => {
    const html = String(reviewItemsPage(model, "t", { csrf: "c" }).body);
    const luminance = (short: string) => {
      const hex = short.length === 4 ? `#${[...short.slice(1)].map((c) => c + c).join("")}` : short;
      const [r, g, b] = [1, 3, 5].map((i) => {
        const c = parseInt(hex.slice(i, i + 2), 16) / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      }) as [number, number, number];
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const ratio = (a: string, b: string) => {
      const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
      return (hi + 0.05) / (lo + 0.05);
    };
    const rules = [...html.matchAll(/([^{}]+)\{([^}]*)\}/g)].filter((m) =>
      /(^|;)\s*(background|color):\s*#/.test(m[2] ?? ""),
    );
    const pairs = rules.map((m) => {
      const body = m[2] ?? "";
      return {
        rule: (m[1] ?? "").trim(),
        bg: /background:\s*(#[0-9a-f]{6}|#[0-9a-f]{3})\b/i.exec(body)?.[1],
        fg: /(?:^|;)\s*color:\s*(#[0-9a-f]{6}|#[0-9a-f]{3})\b/i.exec(body)?.[1],
      };
    });
    // The page's badge, notice and error boxes, and the shared button.
    expect(pairs.length).toBeGreaterThanOrEqual(4);
    for (const p of pairs) {
      expect(p.bg && p.fg, `${p.rule} sets both colours`).toBeTruthy();
      expect(ratio(p.bg ?? "#000000", p.fg ?? "#000000"), p.rule).toBeGreaterThanOrEqual(4.5);
    }
  });

  it("shows a refused post's errors on its items with what was entered, as a 400", () => {
    const res = reviewItemsPage(model, "t", {
      csrf: "c",
      itemErrors: { item2: "A justification is required" },
      entered: { item1: { decision: "deny", justification: "typed <b>" }, item2: { decision: "deny" } },
    });
    const html = String(res.body);
    expect(res.status).toBe(400);
    expect(html).toContain("Nothing was saved");
    expect(html).toContain('<p class="error" id="err-item2" role="alert">A justification is required</p>');
    expect(html).toContain('aria-invalid="true"');
    // What was entered wins over the stored decision.
    expect(html).toContain('name="decision.item1" value="deny" checked');
    expect(html).not.toContain('name="decision.item1" value="approve" checked');
    expect(html).toContain("typed &lt;b&gt;</textarea>");
  });

  it("answers each refusal with its status and a sentence", () => {
    const cases = [
      ["invalid", 400, "not valid"],
      ["badPage", 400, "not valid"],
      ["expired", 410, "expired"],
      ["ended", 410, "ended"],
      ["notStarted", 409, "not open yet"],
      ["notAllowed", 403, "no longer review"],
      ["forged", 403, "this form has expired or did not come from this page"],
    ] as const;
    for (const [reason, status, text] of cases) {
      const res = reviewRefusalPage({ reason });
      expect(res.status).toBe(status);
      expect(String(res.body).toLowerCase()).toContain(text.toLowerCase());
    }
    expect(String(reviewRefusalPage({ reason: "forged" }).body)).toContain("Open the link from your email again");
    const bad = reviewBadFormPage(['The field "x<" is not one this form has.']);
    expect(bad.status).toBe(400);
    expect(String(bad.body)).toContain("&quot;x&lt;&quot;");
  });
});
