import { describe, expect, it } from "vitest";
import { DomainError } from "../../shared/errors.js";
import { requireEnvironmentAdmin } from "../../shared/usecases/adminGate.js";
import { isAppAuditor, type Caller } from "../../shared/usecases/capabilities.js";
import { memoryCaps, seedDirectory } from "../support/memoryCaps.js";

const app: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
const as = (id: string): Caller => ({ principalId: id, appRoles: [] });

async function world() {
  const { caps } = memoryCaps();
  await seedDirectory(caps, "e", [
    ["admin", true, ["SystemAdministrator"]],
    ["disabledAdmin", false, ["SystemAdministrator"]],
    ["maker", true, ["EnvironmentMaker"]],
    ["outsider", true, null],
  ]);
  return caps;
}

/** "pass", or the domain error's code and message (what the one error map turns into 403 or 404). */
async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return "pass";
  } catch (e) {
    if (e instanceof DomainError) return `${e.code}: ${e.message}`;
    throw e;
  }
}

describe("the environment-admin gate", () => {
  it.each([
    ["an app with Sharing.Admin", app, "e", "pass"],
    ["an enabled SystemAdministrator", as("admin"), "e", "pass"],
    ["a disabled SystemAdministrator", as("disabledAdmin"), "e", "forbidden: only admins here"],
    ["an EnvironmentMaker", as("maker"), "e", "forbidden: only admins here"],
    ["a tenant user outside the environment", as("outsider"), "e", "notFound: environment e was not found"],
    // An app the route doesn't let in is no member of the environment: 404, as for any outsider.
    [
      "an app with only Sharing.Audit",
      { principalId: "a", appRoles: ["Sharing.Audit"] },
      "e",
      "notFound: environment e was not found",
    ],
    ["an app with Sharing.Admin, unknown environment", app, "nope", "notFound: environment nope was not found"],
    ["an admin, unknown environment", as("admin"), "nope", "notFound: environment nope was not found"],
  ] as const)("%s: %s", async (_, caller, envId, expected) => {
    const caps = await world();
    const got = await outcome(() => requireEnvironmentAdmin(caps, caller, envId, { refusal: "only admins here" }));
    expect(got).toBe(expected);
  });

  it("lets the apps a route names in besides Sharing.Admin, and returns the environment", async () => {
    const caps = await world();
    const auditor: Caller = { principalId: "a", appRoles: ["Sharing.Audit"] };
    const r = await requireEnvironmentAdmin(caps, auditor, "e", { alsoApps: isAppAuditor });
    expect(r.environment.envId).toBe("e");
    expect(r.ctx).toBeUndefined();
    const admin = await requireEnvironmentAdmin(caps, as("admin"), "e");
    expect(admin.ctx?.membership?.securityRoles).toEqual(["SystemAdministrator"]);
  });

  it("says what the route needs when no refusal is given", async () => {
    const caps = await world();
    expect(await outcome(() => requireEnvironmentAdmin(caps, as("disabledAdmin"), "e"))).toMatch(
      /^forbidden: this needs the environment's SystemAdministrator role \(as an enabled user\)/,
    );
  });
});
