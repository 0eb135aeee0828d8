import type { Settings } from "../../config.js";
import type { Capabilities } from "../capabilities.js";
import { decideItems, mayReviewAs, openForDecisions, reviewerItemsPage } from "./decisions.js";
import type { ReviewPageDeps } from "./page.js";

/**
 * The reviewer page's view of the review core: the Reviews table's run row and reviewer pages, and
 * the decision use case the API uses, with `via: "page"`, so a decision by page and by API are one
 * and the same write.
 */
export function reviewPageDeps(
  caps: Pick<Capabilities, "repo" | "reviews" | "clock">,
  settings: Pick<Settings, "INVITATION_SIGNING_KEY" | "PUBLIC_BASE_URL">,
): ReviewPageDeps {
  return {
    clock: caps.clock,
    signingKey: settings.INVITATION_SIGNING_KEY,
    publicBaseUrl: settings.PUBLIC_BASE_URL,
    core: {
      getRun: async (envId, reviewId, instanceId) => (await caps.reviews.getRun(envId, reviewId, instanceId))?.run,
      isOpen: (run, now) => openForDecisions(run, now),
      mayReviewAs: async (run, userId, key) => (await mayReviewAs(caps, run.envId, run, key, userId)).ok,
      reviewerItemsPage: (run, key, continuation, top) =>
        reviewerItemsPage(caps, run.envId, run.reviewId, run.instanceId, key, continuation, top),
      decideItems: (userId, run, decisions) =>
        decideItems(caps, { userId }, run.envId, run.reviewId, run.instanceId, decisions, "page"),
      environmentName: async (envId) => (await caps.repo.getEnvironment(envId))?.displayName,
      profiles: async (userIds) => {
        const users = await Promise.all(userIds.map((id) => caps.repo.getUser(id)));
        return new Map(users.flatMap((u) => (u ? [[u.userId, { displayName: u.displayName, email: u.email }]] : [])));
      },
    },
  };
}
