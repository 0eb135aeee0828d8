import { forbidden } from "../errors.js";
import type { Connection } from "../model/records.js";

/**
 * Seed 004: "Owners can use services in a cloud flow but can't modify the credentials for a
 * connection that another owner created." A connection's credentials are its `ownerId` (and the
 * connector they sign in to); an update of a flow by one of its owners may change the usage of any
 * connection (embedded or other) and drop any, but may only change, or add, connections with its own
 * credentials. The way to fix a departed owner's connection is the product's: add your own and use it.
 * Apps with `Sharing.Admin` (the product's sync) are not bound by this.
 */
export function requireOwnCredentials(
  callerId: string,
  before: readonly Connection[] | undefined,
  after: readonly Connection[] | undefined,
): void {
  if (after === undefined) return;
  const existing = new Map((before ?? []).map((c) => [c.id, c] as const));
  for (const c of after) {
    const was = existing.get(c.id);
    if (!was) {
      if (c.ownerId !== callerId) {
        throw forbidden(
          `connection ${c.id} would use the credentials of ${c.ownerId}; an owner adds connections with their own credentials only`,
        );
      }
      continue;
    }
    const credentialsChanged = was.ownerId !== c.ownerId || was.connector !== c.connector;
    if (!credentialsChanged) continue;
    if (was.ownerId !== callerId) {
      throw forbidden(
        `connection ${c.id} (${was.connector}) was created by ${was.ownerId}; an owner can't change the credentials of a connection another owner created: add a connection of your own and use it instead`,
      );
    }
    if (c.ownerId !== callerId)
      throw forbidden(
        `connection ${c.id} would use the credentials of ${c.ownerId}; an owner can only put their own credentials on a connection`,
      );
  }
}

/** The route that resolves a connection needing new credentials: an owner takes it over (seed 004). */
export const connectionTakeoverRoute = (envId: string, resourceId: string, connectionId: string) =>
  `PUT /api/environments/${envId}/resources/${resourceId}/connections/${connectionId}`;

/** A connection to fix, with the route that fixes it (answers only; result rows don't store it). */
export const withResolveRoute = <T extends { resourceId: string; connectionId: string }>(envId: string, c: T) => ({
  ...c,
  resolveWith: connectionTakeoverRoute(envId, c.resourceId, c.connectionId),
});

/**
 * Seed 004: "If you stop using a connection in a cloud flow, that connection appears in the Other
 * connections list, where it remains until an owner includes it in the flow again." A registration's
 * list is what the flow uses now; every connection it no longer lists stays, as `other`. Undefined
 * when the registration doesn't list connections (they stay as they are).
 */
export function withStoppedConnections(
  before: readonly Connection[] | undefined,
  after: readonly Connection[] | undefined,
): Connection[] | undefined {
  if (after === undefined) return undefined;
  const listed = new Set(after.map((c) => c.id));
  const stopped = (before ?? []).filter((c) => !listed.has(c.id)).map((c) => ({ ...c, usage: "other" as const }));
  return [...after, ...stopped];
}
