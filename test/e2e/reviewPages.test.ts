import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkerOf } from "../support/openapiCheck.js";
import { openOwnerReview, reviewItems, reviewLink } from "../support/reviewPages.js";
import { startStack, type Stack } from "../support/stack.js";
import { newWorld, type World } from "../support/world.js";

// The reviewer's page through HTTP on the local host with Azurite, without a browser: the GET's
// cookie and form token, the form post's refusals (each a page saying why, nothing saved), and a
// post that saves, seen through the API. test/browser/reviews.test.ts does it in Chromium.

const form = "application/x-www-form-urlencoded";

describe("the reviewer page over HTTP", () => {
  let stack: Stack;
  let w: World;
  let review: Awaited<ReturnType<typeof openOwnerReview>>;
  let link: string;
  let check: (res: Response, text: string, method: string) => void;

  beforeAll(async () => {
    stack = await startStack();
    w = await newWorld(stack);
    review = await openOwnerReview(stack, w, { justificationRequired: true });
    link = await reviewLink(stack, { envId: w.envId, ...review, userId: w.id("olga") });
    const doc = await (await fetch(`${stack.baseUrl}/api/openapi.json`)).text();
    const checker = checkerOf(doc);
    // Every answer here is checked against the OpenAPI document, as stack.api checks its own.
    check = (res, text, method) => {
      const path = new URL(res.url || link).pathname;
      const problems = checker.check(
        method,
        path,
        res.status,
        res.headers.get("content-type"),
        text,
        (n) => res.headers.get(n) ?? undefined,
      );
      expect(problems).toEqual([]);
    };
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  });

  async function get(url: string, cookie?: string) {
    const res = await fetch(url, { headers: cookie ? { cookie } : {}, redirect: "manual" });
    const text = await res.text();
    check(res, text, "GET");
    return { res, text };
  }

  /** Opens the page: its cookie (as the browser would send it back) and the form's token. */
  async function open(url = link) {
    const { res, text } = await get(url);
    expect(res.status, text).toBe(200);
    const setCookie = res.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/^review-csrf=[A-Za-z0-9_-]{43}; Path=\/api\/review-pages\/; HttpOnly; SameSite=Strict$/);
    const cookie = setCookie.split(";")[0] ?? "";
    const csrf = /name="csrf" value="([^"]+)"/.exec(text)?.[1];
    expect(csrf).toBeDefined();
    const items = [...text.matchAll(/data-item="([^"]+)"/g)].map((m) => m[1] ?? "");
    return { cookie, csrf: csrf ?? "", items, text };
  }

  async function post(fields: Record<string, string>, headers: Record<string, string>, url = link) {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": form, ...headers },
      body: new URLSearchParams(fields).toString(),
      redirect: "manual",
    });
    const text = await res.text();
    check(res, text, "POST");
    return { res, text };
  }

  const itemOf = async (userName: string) => {
    const items = await reviewItems(stack, w, review.reviewId, review.instanceId);
    const found = items.find((i) => i.principal.id === w.id(userName));
    if (!found) throw new Error(`no item for ${userName}`);
    return found;
  };

  it("shows the owner's two items with the form, keeps the browser's cookie on a second GET", async () => {
    const first = await open();
    expect(first.items).toHaveLength(2);
    expect(first.text).toContain("Viewers of processes");
    expect(first.text).toContain("Quarterly close");
    // The person's name and email (read for the page: the snapshot keeps none) and id.
    expect(first.text).toContain(`Gus Guest (${w.email("gus")})`);
    expect(first.text).toContain(`<dt>Id</dt><dd>${w.id("gus")}</dd>`);
    expect(first.text).toContain('<span class="badge">Guest</span>');
    const again = await get(link, first.cookie);
    expect(again.res.headers.get("set-cookie")?.split(";")[0]).toBe(first.cookie);
    expect(again.text).toContain(`name="csrf" value="${first.csrf}"`);
  });

  it("refuses a post without the form's token, without the cookie, from another link or another origin: 403, nothing saved", async () => {
    const { cookie, csrf } = await open();
    const vic = await itemOf("vic");
    const decision = { [`decision.${vic.itemId}`]: "approve", [`justification.${vic.itemId}`]: "needed" };
    const refusals = [
      await post(decision, { cookie }),
      await post({ csrf, ...decision }, {}),
      await post({ csrf, ...decision }, { cookie: "review-csrf=" + "A".repeat(43) }),
      await post({ csrf, ...decision }, { cookie, origin: "https://attacker.example" }),
    ];
    const otherLink = await reviewLink(
      stack,
      { envId: w.envId, ...review, userId: w.id("olga") },
      new Date(Date.now() - 5000),
    );
    expect(otherLink).not.toBe(link);
    refusals.push(await post({ csrf, ...decision }, { cookie }, otherLink));
    for (const r of refusals) {
      expect(r.res.status).toBe(403);
      expect(r.text).toContain("This form has expired or did not come from this page");
      expect(r.text).toContain("Open the link from your email again");
    }
    expect((await itemOf("vic")).decision).toBeUndefined();
  });

  it("refuses a form it can't read (400, saying what), and a deny without the required justification (the page again, the item's error, what was entered)", async () => {
    const { cookie, csrf } = await open();
    const [vic, gus] = [await itemOf("vic"), await itemOf("gus")];
    const odd = await post({ csrf, [`decision.${vic.itemId}`]: "maybe" }, { cookie });
    expect(odd.res.status).toBe(400);
    expect(odd.text).toContain("must be approve, deny or don&#39;t know");
    const json = await fetch(link, {
      method: "POST",
      headers: { "content-type": "application/json", cookie },
      body: JSON.stringify({ csrf }),
    });
    expect(json.status).toBe(400);
    expect(await json.text()).toContain("application/x-www-form-urlencoded");

    const refused = await post(
      {
        csrf,
        [`decision.${vic.itemId}`]: "approve",
        [`justification.${vic.itemId}`]: "works on the close",
        [`decision.${gus.itemId}`]: "deny",
      },
      { cookie, origin: new URL(stack.baseUrl).origin },
    );
    expect(refused.res.status).toBe(400);
    expect(refused.text).toContain("Nothing was saved");
    expect(refused.text).toContain(`id="err-${gus.itemId}"`);
    expect(refused.text).toContain("works on the close</textarea>");
    expect(refused.text).toContain(`name="decision.${gus.itemId}" value="deny" checked`);
    expect((await itemOf("vic")).decision).toBeUndefined();
  });

  it("saves the decisions as the link's person and answers 303 to the page with the notice", async () => {
    const { cookie, csrf } = await open();
    const [vic, gus] = [await itemOf("vic"), await itemOf("gus")];
    const saved = await post(
      {
        csrf,
        [`decision.${vic.itemId}`]: "approve",
        [`justification.${vic.itemId}`]: "works on the close",
        [`decision.${gus.itemId}`]: "deny",
        [`justification.${gus.itemId}`]: "contract ended",
      },
      { cookie, origin: new URL(stack.baseUrl).origin },
    );
    expect(saved.res.status).toBe(303);
    const location = saved.res.headers.get("location") ?? "";
    expect(location).toBe(`${new URL(link).pathname}?saved=2`);
    const back = await get(new URL(location, stack.baseUrl).toString(), cookie);
    expect(back.text).toContain("Saved 2 decisions.");
    expect(await itemOf("vic")).toMatchObject({
      decision: "approve",
      justification: "works on the close",
      decidedBy: w.id("olga"),
    });
    expect(await itemOf("gus")).toMatchObject({
      decision: "deny",
      justification: "contract ended",
      decidedBy: w.id("olga"),
    });
  });

  it("refuses garbled, forged and expired links, a changed page link, and a person who doesn't review these items", async () => {
    const token = link.slice(link.lastIndexOf("/") + 1);
    const cases: [string, number, string][] = [
      [`${stack.baseUrl}/api/review-pages/not-a-token`, 400, "not valid"],
      [`${stack.baseUrl}/api/review-pages/${token.slice(0, -2)}xx`, 400, "not valid"],
      [`${link}?page=garbage`, 400, "not valid"],
      [
        await reviewLink(
          stack,
          { envId: w.envId, ...review, userId: w.id("olga"), endsAt: new Date(Date.now() - 60_000) },
          new Date(Date.now() - 120_000),
        ),
        410,
        "expired",
      ],
      // Olga is not an administrator: she can't decide the admins' items.
      [
        await reviewLink(stack, { envId: w.envId, ...review, userId: w.id("olga"), reviewer: "admins" }),
        403,
        "no longer review",
      ],
      // A link naming Olga's items but sent to Vic.
      [
        await reviewLink(stack, { envId: w.envId, ...review, userId: w.id("vic"), reviewer: `u.${w.id("olga")}` }),
        403,
        "no longer review",
      ],
    ];
    for (const [url, status, text] of cases) {
      const got = await get(url);
      expect(got.res.status, url).toBe(status);
      expect(got.text).toContain(text);
      // The same link posted: refused the same way, before the form is looked at.
      if (status !== 403 && !url.includes("?")) expect((await post({}, {}, url)).res.status).toBe(status);
    }
  });
});
