import { invalid, notFound, ruleViolation, forbidden, conflict, type FieldError } from "../errors.js";
import type { ChangeEntry, Resource } from "../model/records.js";
import type { EmailJob } from "../model/emailJobs.js";
import type { FlowCopy } from "../model/copies.js";
import { requireAction, viewAsCaller } from "./access.js";
import { isAppAdmin, type Capabilities, type Caller } from "./capabilities.js";
import { changeEntry, changeResource, newResourceChange, outboxItems } from "./mutate.js";
import { getResource, type ResourceView } from "./resources.js";

type Deps = Pick<
  Capabilities,
  "repo" | "copies" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock"
>;

export interface SendCopyRequest {
  recipientIds: string[];
  displayName?: string | undefined;
  description?: string | undefined;
}

/** What the recipient reads: the template, never the sender's flow. */
export interface CopyView {
  copyId: string;
  envId: string;
  sentBy: string;
  displayName: string;
  description?: string | undefined;
  triggerKind?: "instant" | "automated" | undefined;
  connectors: string[];
  createdAt: string;
  instantiatedResourceId?: string | undefined;
}

/** The flow a copy turns into: its id follows from the copy's, so a retried instantiate finds it instead of making a second. */
export const flowIdOfCopy = (copyId: string) => `flow-${copyId}`;

/**
 * `POST .../resources/{id}/copies` (seed 004, "Send a copy"): one independent template per
 * recipient, with the name and description the sender chose and no connections. The templates are
 * written first; the change entries and the `copy` email jobs then go in one transaction on the
 * flow (the email jobs as an outbox item), so every recipient who is emailed has a template to open.
 */
export async function sendCopy(
  deps: Deps,
  caller: Caller,
  envId: string,
  resourceId: string,
  req: SendCopyRequest,
): Promise<{ copies: { copyId: string; recipientId: string }[] }> {
  const recipientIds = [...new Set(req.recipientIds)];
  const first = await viewAsCaller(deps, caller, envId, resourceId);
  const source = first.state.resource;
  if (source.kind !== "cloudFlow")
    throw ruleViolation(`only cloud flows can be sent as a copy; ${resourceId} is a ${source.kind} resource`);
  requireAction(first, "cloudFlow.sendCopy");
  if (!isAppAdmin(caller) && first.ctx?.user?.license === "free") {
    throw ruleViolation(
      "a user with a free license can't share cloud flows, a copy included; a paid or seeded license is needed",
    );
  }
  await requireRecipients(deps, recipientIds, req.recipientIds);

  const now = deps.clock().toISOString();
  const copies: FlowCopy[] = recipientIds.map((recipientId) => ({
    copyId: deps.newId(),
    envId,
    sourceResourceId: resourceId,
    senderId: caller.principalId,
    recipientId,
    displayName: req.displayName?.trim() || source.displayName,
    ...(req.description !== undefined
      ? { description: req.description }
      : source.description !== undefined
        ? { description: source.description }
        : {}),
    ...(source.triggerKind ? { triggerKind: source.triggerKind } : {}),
    connectors: [...new Set((source.connections ?? []).filter((c) => c.usage === "embedded").map((c) => c.connector))],
    createdAt: now,
  }));
  await Promise.all(copies.map((c) => deps.copies.insert(c)));

  const entries: ChangeEntry[] = copies.map((c) =>
    changeEntry(deps, {
      actorId: caller.principalId,
      action: "copy.sent",
      resourceId,
      principal: { type: "user", id: c.recipientId },
      detail: `sent copy ${c.copyId} ("${c.displayName}") of cloudFlow ${source.displayName}`,
    }),
  );
  const jobs: EmailJob[] = copies.map((c) => ({ kind: "copy", envId, copyId: c.copyId }));
  await changeResource(deps, async () => {
    // Read again on every attempt: the sender may have lost the flow between two attempts.
    const view = await viewAsCaller(deps, caller, envId, resourceId);
    requireAction(view, "cloudFlow.sendCopy");
    return {
      change: {
        etag: view.state.etag,
        resource: view.state.resource,
        changes: entries,
        outbox: outboxItems(deps, [
          { type: "log", envId, entries },
          { type: "email", jobs },
        ]),
      },
      result: undefined,
    };
  });
  return { copies: copies.map((c) => ({ copyId: c.copyId, recipientId: c.recipientId })) };
}

async function requireRecipients(deps: Deps, unique: string[], asSent: string[]): Promise<void> {
  const users = await Promise.all(unique.map((id) => deps.repo.getUser(id)));
  const errors: FieldError[] = [];
  unique.forEach((id, i) => {
    const field = `body.recipientIds[${asSent.indexOf(id)}]`;
    const user = users[i];
    if (!user) errors.push({ field, message: `user ${id} is not in the tenant directory` });
    else if (!user.enabled) errors.push({ field, message: `user ${id} is disabled` });
  });
  if (errors.length > 0) throw invalid("some recipients can't receive a copy", errors);
}

/** Only the recipient may see a copy; to anyone else it doesn't exist (404), the sender included. */
async function copyForRecipient(deps: Deps, caller: Caller, copyId: string): Promise<{ copy: FlowCopy; etag: string }> {
  const found = await deps.copies.get(copyId);
  if (!found || found.copy.recipientId !== caller.principalId) throw notFound(`copy ${copyId} was not found`);
  return found;
}

export function copyView(c: FlowCopy): CopyView {
  return {
    copyId: c.copyId,
    envId: c.envId,
    sentBy: c.senderId,
    displayName: c.displayName,
    ...(c.description !== undefined ? { description: c.description } : {}),
    ...(c.triggerKind ? { triggerKind: c.triggerKind } : {}),
    connectors: c.connectors,
    createdAt: c.createdAt,
    ...(c.instantiatedResourceId ? { instantiatedResourceId: c.instantiatedResourceId } : {}),
  };
}

/** `GET /api/copies/{copyId}`: the template, for its recipient. */
export async function getCopy(deps: Deps, caller: Caller, copyId: string): Promise<CopyView> {
  return copyView((await copyForRecipient(deps, caller, copyId)).copy);
}

/**
 * `POST /api/copies/{copyId}/instantiate`: the recipient creates their own cloud flow from the
 * template, in the copy's environment, registered as `putResource` registers one (the recipient
 * its creator and owner), with no connections. The sender gets no grant on it. Creating it needs
 * what registering a flow needs: membership with EnvironmentMaker (or SystemAdministrator).
 */
export async function instantiateCopy(
  deps: Deps,
  caller: Caller,
  copyId: string,
): Promise<{ created: boolean; view: ResourceView }> {
  const found = await copyForRecipient(deps, caller, copyId);
  const copy = found.copy;
  const envId = copy.envId;
  const [env, ctx] = await Promise.all([
    deps.repo.getEnvironment(envId),
    deps.repo.principalContext(envId, caller.principalId),
  ]);
  if (!env) throw notFound(`copy ${copyId} was not found`);
  if (!ctx.user?.enabled) throw forbidden("the user is disabled in the tenant directory");
  if (ctx.membership?.suspended === true)
    throw forbidden(`the user's membership of environment ${envId} is suspended (deactivated by provisioning)`);
  if (!ctx.membership) {
    throw ruleViolation(
      `creating a flow from this copy needs membership of environment ${envId} with the EnvironmentMaker role; an environment admin must add you first`,
    );
  }
  const roles = ctx.membership.securityRoles;
  if (!roles.includes("EnvironmentMaker") && !roles.includes("SystemAdministrator")) {
    throw ruleViolation(
      `creating a flow from this copy needs the EnvironmentMaker role in environment ${envId}; you hold ${roles.join(", ") || "no security role"}, so an environment admin must assign it`,
    );
  }
  const resourceId = copy.instantiatedResourceId ?? flowIdOfCopy(copyId);
  const created = await changeResource(deps, async () => {
    const current = await deps.repo.rawResourceMeta(envId, resourceId);
    if (current?.resource) {
      if (current.resource.fromCopyId !== copyId)
        throw conflict(`resource ${resourceId} already exists and was not made from this copy`);
      return { result: false };
    }
    if (current?.tombstone)
      throw conflict("the flow made from this copy was deleted and is still being removed; try again shortly");
    const now = deps.clock().toISOString();
    const resource: Resource = {
      envId,
      resourceId,
      kind: "cloudFlow",
      displayName: copy.displayName,
      ...(copy.description !== undefined ? { description: copy.description } : {}),
      creatorId: caller.principalId,
      ownerId: caller.principalId,
      // Created from a template outside any solution, as "Send a copy" does in the product.
      solutionAware: false,
      ...(copy.triggerKind ? { triggerKind: copy.triggerKind } : {}),
      connections: [],
      fromCopyId: copyId,
      createdAt: now,
      updatedAt: now,
    };
    const entry = changeEntry(deps, {
      actorId: caller.principalId,
      action: "copy.instantiated",
      resourceId,
      principal: { type: "user", id: caller.principalId },
      role: "owner",
      detail: `created cloudFlow ${copy.displayName} from copy ${copyId} sent by ${copy.senderId}`,
    });
    return {
      change: newResourceChange(deps, resource, caller.principalId, entry),
      result: true,
    };
  });
  if (!copy.instantiatedResourceId) {
    const now = deps.clock().toISOString();
    // Only a record for the recipient's view; the flow's fromCopyId is what counts, so losing this race is harmless.
    await deps.copies.replace({ ...copy, instantiatedResourceId: resourceId, instantiatedAt: now }, found.etag);
  }
  return { created, view: await getResource(deps, caller, envId, resourceId) };
}
