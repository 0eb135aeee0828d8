import { z } from "zod";

/** The three classes of a data loss prevention policy (sharing-rules.md, "Data loss prevention"). */
export const dlpClasses = ["business", "nonBusiness", "blocked"] as const;
export type DlpClass = (typeof dlpClasses)[number];

/**
 * The most connectors one class may list. The policy lives on the environment's row, which the
 * request path reads anyway (no extra round trip), and that row must stay one 32K-character
 * property: 3 × 50 names of 100 characters next to the rest of the environment fit
 * (test/unit/rowLimits.test.ts). Unlisted connectors fall in the default class (non-business).
 */
export const maxConnectorsPerClass = 50;

/**
 * A connector as a policy names it: the name a flow's connection carries (`connectionSchema.connector`,
 * up to 100 characters). Control characters, `"` and `\` are refused: no connector is named with them,
 * and JSON would store each in up to six characters, breaking the row budget above.
 */
// eslint-disable-next-line no-control-regex -- control characters are what this pattern refuses
export const connectorNamePattern = /^[^\u0000-\u001f\u007f-\u009f"\\]*$/u;
export const connectorNameSchema = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(connectorNamePattern, "must hold no control characters, '\"' or '\\'");

/** Connector names are compared case-insensitively: "SharePoint" and "sharepoint" are one connector. */
export const connectorKey = (name: string) => name.trim().toLowerCase();

const connectorList = z.array(connectorNameSchema).max(maxConnectorsPerClass);

/**
 * An environment's policy: connectors classified business, non-business or blocked. A connector
 * sits in one class at most; naming it twice (in one class or two, in any case) is a 400 naming the
 * second place.
 */
export const dlpPolicySchema = z
  .object({
    business: connectorList.optional(),
    nonBusiness: connectorList.optional(),
    blocked: connectorList.optional(),
  })
  .strict()
  .meta({
    description:
      "Data loss prevention: connectors (names compared case-insensitively) classified business, non-business or blocked, each in one class at most. A flow may not use a blocked connector nor mix business and non-business ones (422); unlisted connectors are non-business. Absent: no policy.",
  })
  .superRefine((policy, ctx) => {
    const seen = new Map<string, string>();
    for (const cls of dlpClasses) {
      (policy[cls] ?? []).forEach((name, i) => {
        const key = connectorKey(name);
        const first = seen.get(key);
        if (first !== undefined)
          ctx.addIssue({
            code: "custom",
            path: [cls, i],
            message: `connector "${name}" is already listed in ${first}; a connector belongs to one class`,
          });
        else seen.set(key, `${cls}[${i}]`);
      });
    }
  });
export type DlpPolicy = z.infer<typeof dlpPolicySchema>;
