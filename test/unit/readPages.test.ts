/**
 * A page of a read costs a bounded number of storage requests, whatever the data: here a group's
 * members, whose emptied buckets stay marked on the group's row.
 */
import { describe, expect, it } from "vitest";
import { narrowAppRefusal, type Caller, type NarrowAppRole } from "../../shared/usecases/capabilities.js";
import { listGroupMembers, patchGroupMembers, putGroup } from "../../shared/usecases/directory.js";
import { bucketOf } from "../../shared/store/keys.js";
import { memoryCaps, seedDirectory } from "../support/memoryCaps.js";

const admin: Caller = { principalId: "admin-app", appRoles: ["Sharing.Admin"] };

describe("a group's members, page by page", () => {
  it("lists every member once, and walks past emptied buckets a few at a time", async () => {
    const { caps, store } = memoryCaps();
    const ids = Array.from({ length: 60 }, (_, i) => `u${i}`);
    await seedDirectory(
      caps,
      "e1",
      ids.map((id) => [id, true, ["BasicUser"]] as const),
    );
    expect(new Set(ids.map(bucketOf)).size).toBeGreaterThan(32);
    await putGroup(caps, admin, { envId: "e1", groupId: "g", displayName: "G", kind: "securityGroup", memberIds: ids });

    const walk = async (top: number) => {
      const seen: string[] = [];
      let pages = 0;
      let token: string | undefined;
      let most = 0;
      do {
        const before = store.requests;
        const page = await listGroupMembers(caps, admin, "e1", "g", { continuationToken: token, top });
        most = Math.max(most, store.requests - before);
        expect(page.items.length).toBeLessThanOrEqual(top);
        seen.push(...page.items.map((i) => i.userId));
        token = page.continuationToken;
        pages++;
      } while (token);
      return { seen, pages, most };
    };
    const full = await walk(100);
    expect([...full.seen].sort()).toEqual([...ids].sort());

    await patchGroupMembers(caps, admin, "e1", "g", { remove: ids });
    const emptied = await walk(100);
    expect(emptied.seen).toEqual([]);
    // More than 32 marked buckets, at most 16 bucket queries a page (plus the gate's and the group's reads).
    expect(emptied.pages).toBeGreaterThanOrEqual(3);
    expect(emptied.most).toBeLessThanOrEqual(16 + 6);
  });
});

describe("narrow app roles", () => {
  const refused = (roles: string[], admitted: NarrowAppRole[]) =>
    narrowAppRefusal({ principalId: "app", appRoles: roles }, admitted);
  it.each([
    { roles: ["Sharing.Check"], admitted: [], refused: /Sharing.Check app role only allows checks/ },
    { roles: ["Sharing.Check"], admitted: ["Sharing.Check"], refused: undefined },
    { roles: ["Sharing.Provisioning"], admitted: ["Sharing.Check"], refused: /Sharing.Provisioning app role/ },
    { roles: ["Sharing.Provisioning"], admitted: ["Sharing.Provisioning"], refused: undefined },
    { roles: ["Sharing.Check", "Sharing.Provisioning"], admitted: ["Sharing.Provisioning"], refused: undefined },
    { roles: ["Sharing.Check", "Sharing.Provisioning"], admitted: [], refused: /checks.*; .*SCIM/ },
    { roles: ["Sharing.Check", "Sharing.Admin"], admitted: [], refused: undefined },
    { roles: ["Sharing.Check", "Sharing.Audit"], admitted: [], refused: undefined },
    { roles: [], admitted: [], refused: undefined },
  ] as { roles: string[]; admitted: NarrowAppRole[]; refused: RegExp | undefined }[])(
    "$roles on a route admitting $admitted",
    ({ roles, admitted, refused: expected }) => {
      const r = refused(roles, admitted);
      if (expected === undefined) expect(r).toBeUndefined();
      else expect(r).toMatch(expected);
    },
  );
});
