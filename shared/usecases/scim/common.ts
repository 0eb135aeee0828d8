import type { Environment } from "../../model/records.js";
import { maxScimPage, scimUrn, type ScimListQuery } from "../../model/scim.js";
import type { EnvironmentAdminGate } from "../adminGate.js";
import { isAppProvisioner, type Capabilities, type Caller } from "../capabilities.js";
import { ScimError, scimNotFound } from "./errors.js";

export type Deps = Pick<
  Capabilities,
  "repo" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock"
>;

/** The most members, or groups, an unfiltered list reads; past it the client must filter (400 `tooMany`). */
export const maxUnfilteredScan = 1000;

const provisioningRefusal = "SCIM provisioning needs an app token with the Sharing.Provisioning app role";

/** The directory use cases' gate, opened to provisioning apps (the SCIM gate below let them in first). */
export const provisioningGate: EnvironmentAdminGate = { alsoApps: isAppProvisioner, refusal: provisioningRefusal };

/**
 * SCIM's gate: only apps with `Sharing.Provisioning` (403 for anyone else, whatever the
 * environment), then the environment must exist (404).
 */
export async function requireProvisioner(
  deps: Pick<Capabilities, "repo">,
  caller: Caller,
  envId: string,
): Promise<Environment> {
  if (!isAppProvisioner(caller)) throw new ScimError("forbidden", provisioningRefusal, undefined);
  // A provisioning secret is issued for one environment; defineHttp checked it against the route's,
  // and this says so again where the use case acts.
  if (caller.envId !== undefined && caller.envId !== envId)
    throw new ScimError("forbidden", `this provisioning token is for another environment than ${envId}`, undefined);
  const environment = await deps.repo.getEnvironment(envId);
  if (!environment) throw scimNotFound(`environment ${envId} was not found`);
  return environment;
}

/** Where the client reaches this environment's SCIM base, for `meta.location`. */
export interface ScimBase {
  url: string;
}

/** `startIndex` (1-based; below 1 counts as 1) and `count` (0 up to `maxScimPage`) as RFC 7644 §3.4.2.4 reads them. */
export function pageOf(q: Pick<ScimListQuery, "startIndex" | "count">): { startIndex: number; count: number } {
  return {
    startIndex: Math.max(1, q.startIndex ?? 1),
    count: Math.min(maxScimPage, Math.max(0, q.count ?? maxScimPage)),
  };
}

export interface ListResponse<T> {
  schemas: string[];
  totalResults: number;
  startIndex: number;
  itemsPerPage: number;
  Resources: T[];
}

export function listResponse<T>(all: T[], page: { startIndex: number; count: number }): ListResponse<T> {
  const Resources = all.slice(page.startIndex - 1, page.startIndex - 1 + page.count);
  return {
    schemas: [scimUrn.listResponse],
    totalResults: all.length,
    startIndex: page.startIndex,
    itemsPerPage: Resources.length,
    Resources,
  };
}

/** Whether `excludedAttributes` (comma-separated, any case, maybe with the core URN) names this attribute. */
export function excludes(excludedAttributes: string | undefined, attribute: string): boolean {
  return (excludedAttributes ?? "")
    .split(",")
    .map((a) =>
      a
        .trim()
        .replace(/^urn:ietf:params:scim:schemas:core:2\.0:(user|group):/i, "")
        .toLowerCase(),
    )
    .includes(attribute.toLowerCase());
}

export const sameText = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
