/**
 * Custom security roles on both storage adapters (the in-memory fake and Azurite): the role rows and
 * the environment's `rolePrivileges` row stay in step under concurrent writers, the cap holds, and
 * the caller's context carries the privileges as they stand.
 */
import { describe, expect, it } from "vitest";
import { ConcurrencyError } from "../../shared/errors.js";
import { maxCustomSecurityRoles } from "../../shared/model/records.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import { putMembership } from "../../shared/usecases/directory.js";
import { putSecurityRole } from "../../shared/usecases/securityRoles.js";
import { backends, quietCaps } from "../support/backends.js";
import { seedDirectory } from "../support/memoryCaps.js";

const admin: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };

describe.each(backends())("custom security roles on '$name'", (backend) => {
  async function world() {
    const caps = quietCaps(backend.make());
    await seedDirectory(caps, "e1", [["pex", true, ["BasicUser"]]]);
    return caps;
  }
  const role = (roleId: string, privileges = {}) => ({ envId: "e1", roleId, displayName: roleId, privileges });

  it("refuses a write of the roles' privileges under an ETag another write replaced", async () => {
    const caps = await world();
    const read = await caps.repo.securityRoles.privileges("e1");
    await caps.repo.securityRoles.put(role("a"), read.row, read.etag, []);
    await expect(caps.repo.securityRoles.put(role("b"), read.row, read.etag, [])).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    const fresh = await caps.repo.securityRoles.privileges("e1");
    await caps.repo.securityRoles.put(role("b"), fresh.row, fresh.etag, []);
    expect(Object.keys((await caps.repo.securityRoles.privileges("e1")).row.roles).sort()).toEqual(["a", "b"]);
  });

  it("keeps every role of concurrent admins, in the role rows and the privileges row alike", async () => {
    const caps = await world();
    const ids = ["r1", "r2", "r3", "r4"];
    const done = await Promise.all(
      ids.map((id) => putSecurityRole(caps, admin, role(id, { processMining: ["share"] }))),
    );
    expect(done.every((d) => d.created)).toBe(true);
    const all = await caps.repo.securityRoles.privileges("e1");
    expect(all.row.roles).toEqual(Object.fromEntries(ids.map((id) => [id, { processMining: ["share"] }])));
    const page = await caps.repo.securityRoles.page("e1", undefined, 100);
    expect(page.roles.map((r) => r.roleId)).toEqual(ids);
  });

  it("answers a repeat as unchanged, and logs only what changed", async () => {
    const caps = await world();
    expect((await putSecurityRole(caps, admin, role("pex", { processMining: ["share", "share"] }))).created).toBe(true);
    const again = await putSecurityRole(caps, admin, role("pex", { processMining: ["share"] }));
    expect(again).toEqual({ created: false, role: role("pex", { processMining: ["share"] }) });
    const log = await caps.repo.environmentChanges("e1", undefined, 100);
    expect(log.items.map((e) => e.action).filter((a) => a.startsWith("securityRole."))).toEqual([
      "securityRole.created",
    ]);
  });

  it("gives the caller's context the privileges of the membership's roles as they stand", async () => {
    const caps = await world();
    await putSecurityRole(caps, admin, role("pex", { processMining: ["share"] }));
    await putMembership(caps, admin, { envId: "e1", userId: "pex", securityRoles: ["BasicUser", "pex"] });
    expect((await caps.repo.principalContext("e1", "pex")).privileges).toEqual([
      { roleId: "pex", kind: "processMining", privilege: "share" },
    ]);
    await putSecurityRole(caps, admin, role("pex", { cloudFlow: ["share"] }));
    expect((await caps.repo.principalContext("e1", "pex")).privileges).toEqual([
      { roleId: "pex", kind: "cloudFlow", privilege: "share" },
    ]);
    await putMembership(caps, admin, { envId: "e1", userId: "pex", securityRoles: ["BasicUser"] });
    expect((await caps.repo.principalContext("e1", "pex")).privileges).toEqual([]);
  });

  it(`holds at most ${maxCustomSecurityRoles} roles an environment (409), and still updates those it has`, async () => {
    const caps = await world();
    for (let i = 0; i < maxCustomSecurityRoles; i++)
      await putSecurityRole(caps, admin, role(`r${String(i).padStart(3, "0")}`));
    await expect(putSecurityRole(caps, admin, role("one-more"))).rejects.toMatchObject({ code: "conflict" });
    expect((await putSecurityRole(caps, admin, role("r000", { taskMining: ["share"] }))).created).toBe(false);
  }, 60_000);
});
