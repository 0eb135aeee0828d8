import type { Resource } from "../model/records.js";
import type { Settings } from "../config.js";

/** The settings that links are built from (`INVITATION_SIGNING_KEY`, `PUBLIC_BASE_URL`, `APP_BASE_URL`). */
export interface InvitationSettings {
  signingKey: string;
  /** Where this API is reached, for the links in emails. */
  publicBaseUrl: string;
  /** The product whose resources are shared, for redirects after accepting. */
  appBaseUrl: string;
}

const join = (base: string, path: string) => `${base.replace(/\/+$/, "")}/${path}`;
const segment = encodeURIComponent;

/** The link in an invitation email. */
export function invitationLink(publicBaseUrl: string, token: string): string {
  return join(publicBaseUrl, `api/invitations/${segment(token)}`);
}

/**
 * Where accepting an invitation leads in the product (`sharing-rules.md`): a process mining process
 * opens on its analytics, or on its details while analytics haven't been generated
 * (`analyticsReady: false`); every other resource opens on its own page.
 */
export function resourcePageUrl(
  appBaseUrl: string,
  resource: Pick<Resource, "envId" | "resourceId" | "kind" | "analyticsReady">,
): string {
  const base = `environments/${segment(resource.envId)}/resources/${segment(resource.resourceId)}`;
  if (resource.kind === "processMining")
    return join(appBaseUrl, `${base}/${resource.analyticsReady === false ? "details" : "analytics"}`);
  return join(appBaseUrl, base);
}

/** The product page where a resource's sharing is reviewed (linked from owner alerts). */
export function sharingPageUrl(appBaseUrl: string, envId: string, resourceId: string): string {
  return join(appBaseUrl, `environments/${segment(envId)}/resources/${segment(resourceId)}/sharing`);
}

/** The origin of a URL, for a Content-Security-Policy source list. */
export function originOf(url: string): string {
  return new URL(url).origin;
}

/** The invitation settings out of the app's parsed settings. */
export function invitationSettings(
  settings: Pick<Settings, "INVITATION_SIGNING_KEY" | "PUBLIC_BASE_URL" | "APP_BASE_URL">,
): InvitationSettings {
  return {
    signingKey: settings.INVITATION_SIGNING_KEY,
    publicBaseUrl: settings.PUBLIC_BASE_URL,
    appBaseUrl: settings.APP_BASE_URL,
  };
}
