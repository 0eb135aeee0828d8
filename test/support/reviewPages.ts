import { expect } from "vitest";
import { ConcurrencyError } from "../../shared/errors.js";
import { signReviewToken } from "../../shared/reviews/token.js";
import { reviewLinkIn, waitForMail } from "./mail.js";
import { eventually } from "./poll.js";
import type { Stack } from "./stack.js";
import { stackCaps } from "./stackCaps.js";
import { expectStatus, uid, type World } from "./world.js";

/**
 * An open access review for the reviewer page's tests: an owner (`olga`) whose process is shared as
 * viewer with a member (`vic`) and a guest (`gus`), a review of viewer grants by owners, and its
 * instance started and open for decisions, through the API.
 */
export async function openOwnerReview(
  stack: Stack,
  w: World,
  definition: Record<string, unknown> = {},
): Promise<{ reviewId: string; instanceId: string; resourceId: string; endsAt: string }> {
  await w.user("admin", { roles: ["SystemAdministrator"] });
  await w.user("olga", { displayName: "Olga Owner" });
  await w.user("vic", { displayName: "Vic Viewer" });
  await w.user("gus", { displayName: "Gus Guest", userType: "guest", roles: ["BasicUser"] });
  const resourceId = await w.resource("olga", { kind: "processMining", displayName: "Quarterly close" });
  expect((await w.share("olga", resourceId, "viewer", [{ type: "user", id: w.id("vic") }])).status).toBe(201);
  expect((await w.share("olga", resourceId, "viewer", [{ type: "user", id: w.id("gus") }])).status).toBe(201);
  const reviewId = uid("review");
  const base = `/api/environments/${w.envId}/reviews/${reviewId}`;
  await expectStatus(stack, 201, "PUT", base, {
    token: w.adminToken,
    body: {
      displayName: "Viewers of processes",
      scope: { kinds: ["processMining"], roles: ["viewer"] },
      reviewers: "owners",
      durationDays: 7,
      ...definition,
    },
  });
  const started = await expectStatus(stack, 202, "POST", `${base}/instances`, { token: w.adminToken });
  const instanceId = (started.json as { instanceId: string }).instanceId;
  const endsAt = await waitUntilOpen(stack, w, `${base}/instances/${instanceId}`);
  return { reviewId, instanceId, resourceId, endsAt };
}

/** Waits for the instance to take decisions, running the review timer while it isn't yet. */
async function waitUntilOpen(stack: Stack, w: World, path: string): Promise<string> {
  for (let i = 0; i < 30; i++) {
    const got = await expectStatus(stack, 200, "GET", path, { token: w.adminToken });
    const run = got.json as { phase?: string; status: string; endsAt: string };
    if (run.phase !== undefined && run.phase !== "snapshot") return run.endsAt;
    await stack.runFunction("reviewRunner").catch(() => new Promise((r) => setTimeout(r, 200)));
  }
  throw new Error(`the instance at ${path} did not open for decisions`);
}

/**
 * The link in the reviewer's `reviewRequest` email, as the runner's `notify` phase sent it to the
 * sink. The timer is run once more first: the instance may have opened while still in `notify`.
 * Exactly one email is expected (a second would be a duplicate).
 */
export async function reviewLinkFromMail(stack: Stack, address: string): Promise<string> {
  await stack.runFunction("reviewRunner");
  const [mail] = await waitForMail(stack, address);
  expect(mail!.subject).toMatch(/Please review who has access/);
  return reviewLinkIn(stack, mail!);
}

/**
 * Moves times on the instance's run row (its deadlines, its lease) as the passing of time would: the
 * host has no clock to move, so the row is rewritten under its ETag on the stack's own storage.
 */
export async function moveRunTimes(
  stack: Stack,
  envId: string,
  reviewId: string,
  instanceId: string,
  times: Partial<Record<"endsAt" | "remindAt" | "leaseUntil", string>>,
): Promise<void> {
  const caps = stackCaps(stack);
  for (;;) {
    const got = (await caps.reviews.getRun(envId, reviewId, instanceId))!;
    try {
      await caps.reviews.putRun({ ...got.run, ...times }, got.etag);
      return;
    } catch (e) {
      // The host's own timer wrote the row meanwhile: read it again.
      if (!(e instanceof ConcurrencyError)) throw e;
    }
  }
}

/** An instance as the API shows it (GET .../instances/{instanceId}). */
type InstanceJson = { status: string; phase: string; applyCounts?: Record<string, number> } & Record<string, unknown>;

/**
 * Ends the instance now and runs the review timer until it is done: the run row's `endsAt` (and
 * `remindAt`, so no reminder goes out) is moved to now ({@link moveRunTimes}). Returns the instance
 * as the API shows it.
 */
export async function endReviewNow(
  stack: Stack,
  w: World,
  reviewId: string,
  instanceId: string,
): Promise<InstanceJson> {
  const now = new Date().toISOString();
  await moveRunTimes(stack, w.envId, reviewId, instanceId, { endsAt: now, remindAt: now });
  const path = `/api/environments/${w.envId}/reviews/${reviewId}/instances/${instanceId}`;
  return eventually(
    "the instance done",
    async () => {
      await stack.runFunction("reviewRunner");
      const got = await expectStatus(stack, 200, "GET", path, { token: w.adminToken });
      return got.json as InstanceJson;
    },
    { until: (run) => run.phase === "done", intervalMs: 250 },
  );
}

/**
 * A reviewer's link signed here with the stack's key as the lifecycle's `reviewRequest` email signs
 * it (shared/reviews/token.ts): for links no email carries (expired, or for refusal cases); a
 * reviewer's real link comes from the sink through {@link reviewLinkFromMail}.
 */
export async function reviewLink(
  stack: Stack,
  claims: {
    envId: string;
    reviewId: string;
    instanceId: string;
    userId: string;
    /** When the link stops working: the instance's `endsAt`. */
    endsAt: string | Date;
    /** The reviewer key; the user's own (`u.{userId}`) by default. */
    reviewer?: string;
  },
  now = new Date(),
): Promise<string> {
  const key = stack.settings.INVITATION_SIGNING_KEY;
  if (!key) throw new Error("the stack has no INVITATION_SIGNING_KEY");
  const token = await signReviewToken(
    key,
    {
      env: claims.envId,
      review: claims.reviewId,
      instance: claims.instanceId,
      reviewer: claims.reviewer ?? `u.${claims.userId}`,
      userId: claims.userId,
      expiresAt: new Date(claims.endsAt),
    },
    now,
  );
  return `${stack.baseUrl}/api/review-pages/${token}`;
}

/** The instance's items as the admins see them through the API. */
export async function reviewItems(
  stack: Stack,
  w: World,
  reviewId: string,
  instanceId: string,
): Promise<
  {
    itemId: string;
    principal: { id: string };
    decision?: string;
    justification?: string;
    decidedBy?: string;
    outcome?: string;
  }[]
> {
  const got = await expectStatus(
    stack,
    200,
    "GET",
    `/api/environments/${w.envId}/reviews/${reviewId}/instances/${instanceId}/items`,
    { token: w.adminToken },
  );
  return (got.json as { items: never[] }).items;
}
