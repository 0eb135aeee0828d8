import { forbidden, notFound } from "../errors.js";
import type { Connection, PrincipalRef, Resource } from "../model/records.js";
import { decide } from "../rules/decide.js";
import { factsOf, requireAction, viewAsCaller } from "./access.js";
import { hasActiveMembership } from "./adminGate.js";
import type { Capabilities, Caller } from "./capabilities.js";
import { changeEntry, changeResource, outboxItems } from "./mutate.js";

type Deps = Pick<Capabilities, "repo" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock">;

export interface ConnectionTakeoverResult {
  connection: Connection;
  previousOwnerId: string;
  resource: Resource;
}

/**
 * `PUT .../resources/{id}/connections/{connectionId}` `{ownerId}`: an owner of the flow puts their
 * own credentials on a connection (seed 004, "Modify a connection"). Allowed only once the
 * connection's creator is no longer an enabled owner of the flow (removed, gone from the
 * environment, suspended or disabled): while they are, the seed's "can't modify the credentials for
 * a connection that another owner created" stands (403). This is how the warnings of a removal are
 * resolved. The connection keeps its id, connector and usage.
 */
export async function takeOverConnection(
  deps: Deps,
  caller: Caller,
  envId: string,
  resourceId: string,
  connectionId: string,
  ownerId: string,
): Promise<ConnectionTakeoverResult> {
  return changeResource(deps, async () => {
    const view = await viewAsCaller(deps, caller, envId, resourceId);
    const r = view.state.resource;
    if (r.kind !== "cloudFlow") throw notFound(`resource ${resourceId} has no connections (it is a ${r.kind})`);
    // Updating credentials is an owner's property management (seed 004); admins manage owners, not connections.
    requireAction(view, "cloudFlow.manageProperties");
    const connection = (r.connections ?? []).find((c) => c.id === connectionId);
    if (!connection) throw notFound(`connection ${connectionId} was not found on flow ${resourceId}`);
    if (ownerId !== caller.principalId)
      throw forbidden(
        `connection ${connectionId} would use the credentials of ${ownerId}; an owner takes a connection over with their own credentials only`,
      );
    if (connection.ownerId === ownerId)
      return { result: { connection, previousOwnerId: connection.ownerId, resource: r } };
    const creator: PrincipalRef = { type: "user", id: connection.ownerId };
    const [creatorState, creatorCtx] = await Promise.all([
      deps.repo.resourceStateFor(envId, resourceId, [creator]),
      deps.repo.principalContext(envId, connection.ownerId),
    ]);
    const creatorIsOwner =
      creatorCtx.user?.enabled === true &&
      hasActiveMembership(creatorCtx) &&
      decide(r, creatorState?.grants ?? [], factsOf(connection.ownerId, creatorCtx)).roles.includes("owner");
    if (creatorIsOwner)
      throw forbidden(
        `connection ${connectionId} (${connection.connector}) was created by ${connection.ownerId}, who is still an enabled owner of the flow; an owner can't change the credentials of a connection another owner created: add a connection of your own and use it instead`,
      );
    const now = deps.clock().toISOString();
    const taken: Connection = { ...connection, ownerId };
    const resource: Resource = {
      ...r,
      connections: (r.connections ?? []).map((c) => (c.id === connectionId ? taken : c)),
      updatedAt: now,
    };
    const entry = changeEntry(deps, {
      actorId: caller.principalId,
      action: "connection.takenOver",
      resourceId,
      principal: { type: "user", id: ownerId },
      detail: `connection ${connectionId} (${connection.connector}, ${connection.usage}) of flow ${r.displayName} now uses the credentials of ${ownerId} in place of ${connection.ownerId}, no longer an enabled owner`,
    });
    return {
      change: {
        etag: view.state.etag,
        resource,
        changes: [entry],
        outbox: outboxItems(deps, [{ type: "log", envId, entries: [entry] }]),
      },
      result: { connection: taken, previousOwnerId: connection.ownerId, resource },
    };
  });
}
