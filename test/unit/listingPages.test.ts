import { describe, expect, it } from "vitest";
import { MemoryRowStore } from "../../shared/adapters/memory/memoryRowStore.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import { principalResources, putResource } from "../../shared/usecases/resources.js";
import { share } from "../../shared/usecases/sharing.js";
import { memoryCaps, seedDirectory } from "../support/memoryCaps.js";

const as = (id: string): Caller => ({ principalId: id, appRoles: [] });

/** Storage pages of two rows, so five resources take several pages and every token is followed. */
async function world() {
  const { caps } = memoryCaps(new MemoryRowStore(2));
  await seedDirectory(caps, "e", [
    ["maker", true, ["EnvironmentMaker"]],
    ["bob", true, ["EnvironmentMaker"]],
    ["ada", true, ["SystemAdministrator"]],
  ]);
  for (let i = 0; i < 5; i++) {
    await putResource(
      caps,
      as("maker"),
      "e",
      `p${i}`,
      { kind: "processMining", displayName: `P${i}`, creatorId: "maker" },
      undefined,
    );
    await share(caps, as("maker"), "e", `p${i}`, {
      role: "viewer",
      principals: [{ type: "user", id: "bob" }],
      sendInvitation: false,
    });
  }
  await share(caps, as("maker"), "e", "p3", {
    role: "coOwner",
    principals: [{ type: "user", id: "ada" }],
    sendInvitation: false,
  });
  return caps;
}

async function everyPage(caps: Awaited<ReturnType<typeof world>>, caller: Caller, principalId: string) {
  const seen: Awaited<ReturnType<typeof principalResources>>["resources"] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = await principalResources(caps, caller, "e", principalId, undefined, token);
    seen.push(...page.resources);
    token = page.continuationToken;
    pages++;
  } while (token && pages < 20);
  return { seen, pages };
}

describe("listing a principal's resources, page by page", () => {
  it("follows a user's index over several pages, still knowing they are a member", async () => {
    const caps = await world();
    const { seen, pages } = await everyPage(caps, as("bob"), "bob");
    expect(pages).toBeGreaterThan(2);
    expect(seen.map((r) => r.resourceId).sort()).toEqual(["p0", "p1", "p2", "p3", "p4"]);
  });

  it("pages an admin through the catalog with the roles they also hold", async () => {
    const caps = await world();
    const { seen, pages } = await everyPage(caps, as("ada"), "ada");
    expect(pages).toBeGreaterThan(2);
    expect(seen.map((r) => r.resourceId).sort()).toEqual(["p0", "p1", "p2", "p3", "p4"]);
    expect(seen.find((r) => r.resourceId === "p3")?.roles).toEqual(["coOwner"]);
    expect(seen.every((r) => r.via.some((v) => v.through === "admin"))).toBe(true);
  });

  it("refuses a token it didn't give out", async () => {
    const caps = await world();
    await expect(principalResources(caps, as("bob"), "e", "bob", undefined, "bm90IGEgdG9rZW4")).rejects.toMatchObject({
      code: "invalidInput",
    });
  });
});
