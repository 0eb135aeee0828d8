import { z } from "zod";
import { pageOf, pageQuery } from "./api.js";
import { idSchema } from "./records.js";
import {
  reviewDecisionSchema,
  reviewDefinitionSchema,
  reviewerKeySchema,
  reviewInstanceSchema,
  reviewItemSchema,
} from "./reviews.js";

/** The HTTP shapes of the access review routes (api.md, "Access reviews"), over `model/reviews.ts`. */

export const reviewParams = z.object({ envId: idSchema, reviewId: idSchema });
export const reviewInstanceParams = reviewParams.extend({ instanceId: idSchema });

/** `GET .../reviews/{reviewId}`: the definition and the id of its newest instance. */
export const reviewDefinitionView = reviewDefinitionSchema.extend({ latestInstanceId: idSchema.optional() });
export const reviewDefinitionsPage = pageOf(reviewDefinitionSchema);

export const reviewStarted = z.object({ instanceId: idSchema });

/** `GET .../instances/{instanceId}`: the run row without the runner's own fields (cursor, lease). */
export const reviewInstanceView = reviewInstanceSchema.omit({ cursor: true, leaseId: true, leaseUntil: true });

/** An item as the API shows it: a reviewer's index rows carry no reviewers nor outcome, item rows do. */
export const reviewItemOut = reviewItemSchema.partial({ reviewers: true });
export const reviewItemsPage = pageOf(reviewItemOut);

export const reviewItemsQuery = pageQuery
  .extend({
    /** A reviewer key (`u.{userId}`, `fallback`, `admins`): that reviewer's items, undecided first. */
    reviewerId: reviewerKeySchema.optional(),
  })
  .strict();

export const reviewDecisionsBody = z
  .object({
    decisions: z
      .array(
        z
          .object({
            itemId: idSchema,
            decision: reviewDecisionSchema,
            justification: z.string().max(1000).optional(),
          })
          .strict(),
      )
      .min(1)
      .max(100),
  })
  .strict();

export const reviewDecisionsAnswer = z.object({ decided: z.number().int().min(0), items: z.array(reviewItemOut) });
