/**
 * Time-bound grants (docs/expiry.md): what an expiry costs a check. Two resources of one environment
 * hold the same grants (the reader's viewer grant among 20 users' and 2 groups'), on one without
 * expiry and on the other each expiring in 30 days. The check of the reader on each is measured in
 * process against Azurite, interleaved one by one, and its storage requests and round trips are
 * counted with the request meter: the figures are computed, so "costs the same" is measured, not assumed.
 */
import type { Azurite } from "../azurite.js";
import { AzureRowStore } from "../../shared/adapters/tables/azureRowStore.js";
import { tableNames } from "../../shared/store/keys.js";
import { check } from "../../shared/usecases/access.js";
import { putEnvironment, putGroup, putMembership, putUser } from "../../shared/usecases/directory.js";
import { putResource } from "../../shared/usecases/resources.js";
import { share } from "../../shared/usecases/sharing.js";
import { config, elapsed, log } from "./config.js";
import type { RequestMeter } from "./meter.js";
import { addRow, countRequests, requestCounts } from "./report.js";
import { capabilities } from "./setup.js";
import { interleave, summarize } from "./stats.js";
import { appAdmin, as, forEachLimit } from "./world.js";

const envId = "benchexpiry";
const owner = "exp-owner";
const users = Array.from({ length: 20 }, (_, n) => `exp-user-${n}`);
const reader = users[0]!;
const groups = ["exp-group-0", "exp-group-1"];
const resources = { plain: "exp-plain", timed: "exp-timed" } as const;

export async function measureExpiry(azurite: Azurite, meter: RequestMeter): Promise<void> {
  const conn = azurite.connectionString;
  const tables = tableNames(config.prefix);
  const timed = capabilities(new AzureRowStore({ connectionString: conn }), tables, conn);
  const counted = capabilities(
    new AzureRowStore({ connectionString: conn, onRequest: meter.onRequest, onResponse: meter.onResponse }),
    tables,
    conn,
  );
  log(`[${elapsed()}] expiry: seeding two resources with the same grants, with and without expiries…`);
  await putEnvironment(timed, appAdmin, {
    envId,
    displayName: "Bench expiry",
    isDefault: false,
    sensitive: false,
    expectedOwnerGroupIds: [],
    sovereignCloud: false,
  });
  await forEachLimit([owner, ...users], 4, async (userId) => {
    await putUser(timed, appAdmin, {
      userId,
      email: `${userId}@contoso.example`,
      displayName: `Bench ${userId}`,
      userType: "member",
      enabled: true,
      license: "paid",
    });
    await putMembership(timed, appAdmin, { envId, userId, securityRoles: ["EnvironmentMaker"] });
  });
  for (const g of groups)
    await putGroup(timed, appAdmin, {
      envId,
      groupId: g,
      displayName: g,
      kind: "securityGroup",
      memberIds: users.slice(1, 6),
    });
  const expiresAt = new Date(Date.now() + 30 * 86_400_000).toISOString();
  for (const [name, resourceId] of Object.entries(resources)) {
    await putResource(
      timed,
      as(owner),
      envId,
      resourceId,
      { kind: "processMining", displayName: `Bench expiry ${name}`, creatorId: owner, analyticsReady: true },
      undefined,
    );
    await share(timed, as(owner), envId, resourceId, {
      role: "viewer",
      principals: [
        ...users.map((id) => ({ type: "user" as const, id })),
        ...groups.map((id) => ({ type: "group" as const, id })),
      ],
      sendInvitation: false,
      ...(name === "timed" ? { expiresAt } : {}),
    });
  }
  const item = (resourceId: string) => ({ principalId: reader, resourceId, action: "processMining.viewAnalytics" });
  for (const resourceId of Object.values(resources)) {
    const r = await check(timed, as(reader), envId, [item(resourceId)]);
    if (!r[0]?.allowed) throw new Error(`the expiry bench's check on ${resourceId} is refused: ${JSON.stringify(r)}`);
  }

  const before = requestCounts.length;
  await countRequests(meter, "access check, grants without expiry", 20, () =>
    check(counted, as(reader), envId, [item(resources.plain)]),
  );
  await countRequests(meter, "access check, the same grants expiring", 20, () =>
    check(counted, as(reader), envId, [item(resources.timed)]),
  );
  const [plain, expiring] = requestCounts.slice(before);
  const same = plain!.requests === expiring!.requests && plain!.roundTrips === expiring!.roundTrips;

  log(`[${elapsed()}] expiry: ${config.iterations} rounds of the check with and without expiries…`);
  const s = await interleave(
    [
      { name: "plain", run: () => check(timed, as(reader), envId, [item(resources.plain)]) },
      { name: "timed", run: () => check(timed, as(reader), envId, [item(resources.timed)]) },
    ],
    { warmup: config.warmup, iterations: config.iterations },
  );
  addRow(
    "access check, grants with expiries (22 grants)",
    summarize(s.get("timed") ?? []),
    { name: "the same check, no expiries", s: summarize(s.get("plain") ?? []) },
    1.15,
    `requests ${expiring!.requests} vs ${plain!.requests}, round trips ${expiring!.roundTrips} vs ${plain!.roundTrips}: ${same ? "the same" : "NOT the same"}`,
  );
}
