import { z } from "zod";
import { ConcurrencyError, conflict, notFound, unauthenticated } from "../../errors.js";
import {
  defaultScimTokenDays,
  maxScimTokens,
  type ScimTokenBody,
  type ScimTokenCreated,
  type ScimTokenRecord,
  type ScimTokenView,
} from "../../model/scim.js";
import { keys } from "../../store/keys.js";
import { decodePageToken, encodePageToken } from "../../store/pageToken.js";
import { requireEnvironmentAdmin } from "../adminGate.js";
import type { Capabilities, Caller } from "../capabilities.js";
import { logItem, outboxItems } from "../mutate.js";
import { relayNow } from "../relay.js";
import { issueProvisioningSecret, parseProvisioningSecret, secretMatches } from "./secret.js";

/**
 * Provisioning secrets: long-lived, revocable bearers an environment admin issues for the
 * environment's SCIM base, for clients that keep one token for months (Entra's Secret Token).
 * Stored as hashes in the environment's directory partition; see `secret.ts` for the format.
 */
type Deps = Pick<Capabilities, "repo" | "emailQueue" | "fanoutQueue" | "webhookQueue" | "log" | "newId" | "clock">;

/** `lastUsedAt` is written at most this often per token, so a SCIM call rarely costs a write. */
export const lastUsedInterval = 60 * 60 * 1000;

const dayMs = 24 * 60 * 60 * 1000;

/** The principal a provisioning secret acts as (an id: `:` is not allowed in ids, so `.`). */
export const secretPrincipalId = (tokenId: string) => `scim-token.${tokenId}`;

function view(r: ScimTokenRecord, now: Date): ScimTokenView {
  const { hash: _secret, envId: _env, ...rest } = r;
  return { ...rest, expired: Date.parse(r.expiresAt) <= now.getTime() };
}

/**
 * `POST .../scim/tokens`: a new secret for the environment (environment admins, `Sharing.Admin`),
 * returned this once. At most `maxScimTokens` per environment: the count is one query of at most
 * that many rows. Two creates at the same instant may both pass the count (checked, not locked).
 */
export async function createScimToken(
  deps: Deps,
  caller: Caller,
  envId: string,
  body: ScimTokenBody,
): Promise<ScimTokenCreated> {
  await requireEnvironmentAdmin(deps, caller, envId);
  const held = await deps.repo.scimTokens.page(envId, undefined, maxScimTokens + 1);
  if (held.tokens.length >= maxScimTokens)
    throw conflict(
      `this environment already holds ${maxScimTokens} provisioning tokens (expired ones count until revoked): revoke one with DELETE .../scim/tokens/{tokenId} first`,
    );
  const now = deps.clock();
  const tokenId = deps.newId();
  const { token, hash } = issueProvisioningSecret(tokenId);
  const record: ScimTokenRecord = {
    tokenId,
    envId,
    ...(body.description ? { description: body.description } : {}),
    hash,
    createdAt: now.toISOString(),
    createdBy: caller.principalId,
    expiresAt: new Date(now.getTime() + (body.expiresInDays ?? defaultScimTokenDays) * dayMs).toISOString(),
  };
  const items = outboxItems(deps, [
    logItem(deps, envId, caller, {
      action: "scimToken.created",
      detail: `created SCIM provisioning token ${tokenId}${
        record.description ? ` (${record.description})` : ""
      }, expiring ${record.expiresAt}`,
    }),
  ]);
  await deps.repo.scimTokens.insert(record, items);
  await relayNow(deps, "directory", keys.directoryPk(envId), items);
  const { expired: _new, lastUsedAt: _never, ...shown } = view(record, now);
  return { ...shown, token };
}

const tokenPageSchema = z.object({ s: z.literal("scimtokens"), c: z.string().min(1).max(4000) });

/** `GET .../scim/tokens`: the environment's tokens without their secrets, oldest first, paged. */
export async function listScimTokens(
  deps: Pick<Capabilities, "repo" | "clock">,
  caller: Caller,
  envId: string,
  q: { continuationToken?: string | undefined; top?: number | undefined },
): Promise<{ items: ScimTokenView[]; continuationToken?: string }> {
  await requireEnvironmentAdmin(deps, caller, envId);
  const continuation =
    q.continuationToken === undefined ? undefined : decodePageToken(tokenPageSchema, q.continuationToken).c;
  const page = await deps.repo.scimTokens.page(envId, continuation, Math.min(q.top ?? 100, 100));
  const now = deps.clock();
  return {
    items: page.tokens.map((t) => view(t, now)),
    ...(page.continuation ? { continuationToken: encodePageToken({ s: "scimtokens", c: page.continuation }) } : {}),
  };
}

/** `DELETE .../scim/tokens/{tokenId}`: the token stops working at once (its row is gone). 404 when unknown. */
export async function revokeScimToken(deps: Deps, caller: Caller, envId: string, tokenId: string): Promise<void> {
  await requireEnvironmentAdmin(deps, caller, envId);
  const unknown = () => notFound(`provisioning token ${tokenId} was not found in environment ${envId}`);
  if (!/^[0-9a-z]{1,100}$/.test(tokenId)) throw unknown();
  const found = await deps.repo.scimTokens.get(envId, tokenId);
  if (!found) throw unknown();
  const items = outboxItems(deps, [
    logItem(deps, envId, caller, {
      action: "scimToken.revoked",
      detail: `revoked SCIM provisioning token ${tokenId}${
        found.record.description ? ` (${found.record.description})` : ""
      }`,
    }),
  ]);
  try {
    await deps.repo.scimTokens.delete(envId, tokenId, items);
  } catch (e) {
    // Revoked by someone else since it was read: gone either way, and their entry is the one logged.
    if (e instanceof ConcurrencyError) throw unknown();
    throw e;
  }
  await relayNow(deps, "directory", keys.directoryPk(envId), items);
}

/**
 * The caller a provisioning secret stands for, on a SCIM route of `envId`: one point read of its row,
 * then the hash (constant time), expiry, and the environment it was issued for. Any failure is a 401
 * that names no reason beyond "not valid", as for any unknown token. Nothing is cached: a revoked or
 * expired token is refused at once. `lastUsedAt` is written at most once an hour (one replace under
 * the row's ETag, awaited because the host may freeze work left running after the answer; a failure
 * there is logged, never the call's).
 */
export async function authenticateProvisioningSecret(
  deps: Pick<Capabilities, "repo" | "clock" | "log">,
  authorization: string | null | undefined,
  envId: string | undefined,
): Promise<Caller> {
  const refused = () => unauthenticated("the provisioning token is not valid for this SCIM base");
  const parsed = parseProvisioningSecret(authorization);
  if (!parsed || !envId || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(envId)) throw refused();
  const found = await deps.repo.scimTokens.get(envId, parsed.tokenId);
  // The row lives in the environment's own partition, so a token of another environment finds none;
  // the envId comparison says so again.
  if (!found || found.record.envId !== envId || !secretMatches(parsed.secret, found.record.hash)) throw refused();
  const now = deps.clock();
  if (Date.parse(found.record.expiresAt) <= now.getTime())
    throw unauthenticated("the provisioning token has expired: an environment admin issues a new one");
  const last = found.record.lastUsedAt ? Date.parse(found.record.lastUsedAt) : 0;
  if (now.getTime() - last >= lastUsedInterval) {
    try {
      await deps.repo.scimTokens.touch(found.record, found.etag, now.toISOString());
    } catch (e) {
      // Another call touched it first, or it was revoked meanwhile (the next call is refused): not this call's fault.
      if (!(e instanceof ConcurrencyError))
        deps.log(`lastUsedAt of provisioning token ${parsed.tokenId}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { principalId: secretPrincipalId(parsed.tokenId), appRoles: ["Sharing.Provisioning"], envId };
}
