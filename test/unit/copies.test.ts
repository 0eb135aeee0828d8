import { describe, expect, it } from "vitest";
import { memoryCaps } from "../support/memoryCaps.js";
import { putEnvironment, putMembership, putUser } from "../../shared/usecases/directory.js";
import { deleteResource, getResource, putResource } from "../../shared/usecases/resources.js";
import { share } from "../../shared/usecases/sharing.js";
import { getCopy, instantiateCopy, sendCopy } from "../../shared/usecases/copies.js";
import { prepareCopyEmail } from "../../shared/usecases/email/copy.js";
import type { MailerDeps } from "../../shared/usecases/email/handler.js";
import type { Caller } from "../../shared/usecases/capabilities.js";
import type { SecurityRole } from "../../shared/model/records.js";

const admin: Caller = { principalId: "app", appRoles: ["Sharing.Admin"] };
const as = (id: string): Caller => ({ principalId: id, appRoles: [] });

async function world() {
  const m = memoryCaps();
  const c = m.caps;
  await putEnvironment(c, admin, {
    envId: "e1",
    displayName: "Env",
    isDefault: false,
    sensitive: false,
    expectedOwnerGroupIds: [],
    sovereignCloud: false,
  });
  const people: [string, "paid" | "free", SecurityRole[] | undefined][] = [
    ["maker", "paid", ["EnvironmentMaker"]],
    ["coowner", "paid", ["EnvironmentMaker"]],
    ["bob", "paid", ["EnvironmentMaker"]],
    ["basic", "paid", ["BasicUser"]],
    ["norole", "paid", []],
    ["outsider", "paid", undefined],
    ["cheap", "free", ["EnvironmentMaker"]],
    ["runner", "paid", ["BasicUser"]],
  ];
  for (const [id, license, roles] of people) {
    await putUser(c, admin, {
      userId: id,
      email: `${id}@x.test`,
      displayName: id.toUpperCase(),
      userType: "member",
      enabled: true,
      license,
    });
    if (roles) await putMembership(c, admin, { envId: "e1", userId: id, securityRoles: roles });
  }
  await putResource(
    c,
    as("maker"),
    "e1",
    "f1",
    {
      kind: "cloudFlow",
      displayName: "Approve orders",
      description: "Routes purchase orders",
      creatorId: "maker",
      solutionAware: true,
      triggerKind: "instant",
      connections: [
        { id: "c1", connector: "Office 365 Outlook", ownerId: "maker", usage: "embedded" },
        { id: "c2", connector: "SharePoint", ownerId: "maker", usage: "other" },
      ],
    },
    undefined,
  );
  await share(c, as("maker"), "e1", "f1", {
    role: "owner",
    principals: [{ type: "user", id: "coowner" }],
    sendInvitation: false,
  });
  await share(c, as("maker"), "e1", "f1", {
    role: "runOnly",
    principals: [{ type: "user", id: "runner" }],
    sendInvitation: false,
  });
  await putResource(
    c,
    as("maker"),
    "e1",
    "p1",
    { kind: "processMining", displayName: "Invoices", creatorId: "maker" },
    undefined,
  );
  return m;
}

describe("send a copy", () => {
  it("makes one template per recipient, emails each through the outbox, and logs it", async () => {
    const { caps, sent } = await world();
    const r = await sendCopy(caps, as("maker"), "e1", "f1", {
      recipientIds: ["bob", "basic", "bob"],
      displayName: "My approvals",
    });
    expect(r.copies.map((c) => c.recipientId)).toEqual(["bob", "basic"]);
    expect(sent.filter((j) => j.kind === "copy")).toEqual(
      r.copies.map((c) => ({ kind: "copy", envId: "e1", copyId: c.copyId })),
    );
    const copy = await getCopy(caps, as("bob"), r.copies[0]!.copyId);
    expect(copy).toMatchObject({
      displayName: "My approvals",
      description: "Routes purchase orders",
      triggerKind: "instant",
      connectors: ["Office 365 Outlook"],
      sentBy: "maker",
    });
    // The connection's id must not travel with the copy; matched as a whole JSON string, since the
    // random copyId can contain the letters "c1".
    expect(JSON.stringify(copy)).not.toContain('"c1"');
    const log = await caps.repo.environmentChanges("e1", undefined, 100);
    expect(
      log.items
        .filter((e) => e.action === "copy.sent")
        .map((e) => e.principal?.id)
        .sort(),
    ).toEqual(["basic", "bob"]);
  });

  it("is for cloud flows, by someone who may send a copy and holds a license other than free", async () => {
    const { caps } = await world();
    await expect(sendCopy(caps, as("maker"), "e1", "p1", { recipientIds: ["bob"] })).rejects.toMatchObject({
      code: "ruleViolation",
    });
    await expect(sendCopy(caps, as("runner"), "e1", "f1", { recipientIds: ["bob"] })).rejects.toMatchObject({
      code: "forbidden",
    });
    await expect(sendCopy(caps, as("bob"), "e1", "f1", { recipientIds: ["basic"] })).rejects.toMatchObject({
      code: "notFound",
    });
    await share(caps, as("maker"), "e1", "f1", {
      role: "owner",
      principals: [{ type: "user", id: "cheap" }],
      sendInvitation: false,
    });
    await expect(sendCopy(caps, as("cheap"), "e1", "f1", { recipientIds: ["bob"] })).rejects.toMatchObject({
      code: "ruleViolation",
    });
    await expect(sendCopy(caps, as("maker"), "e1", "f1", { recipientIds: ["ghost"] })).rejects.toMatchObject({
      code: "invalidInput",
      errors: [{ field: "body.recipientIds[0]" }],
    });
  });

  it("shows the copy to its recipient only", async () => {
    const { caps } = await world();
    const { copies } = await sendCopy(caps, as("maker"), "e1", "f1", { recipientIds: ["bob"] });
    const id = copies[0]!.copyId;
    for (const who of [as("maker"), as("basic"), admin])
      await expect(getCopy(caps, who, id)).rejects.toMatchObject({ code: "notFound" });
    await expect(getCopy(caps, as("bob"), "nope")).rejects.toMatchObject({ code: "notFound" });
  });

  it("becomes the recipient's own flow, with no connections, which the sender can't see", async () => {
    const { caps } = await world();
    const { copies } = await sendCopy(caps, as("maker"), "e1", "f1", {
      recipientIds: ["bob"],
      description: "Yours now",
    });
    const id = copies[0]!.copyId;
    const made = await instantiateCopy(caps, as("bob"), id);
    expect(made.created).toBe(true);
    expect(made.view.resource).toMatchObject({
      kind: "cloudFlow",
      creatorId: "bob",
      ownerId: "bob",
      connections: [],
      fromCopyId: id,
      description: "Yours now",
      triggerKind: "instant",
      solutionAware: false,
    });
    expect(made.view.roles).toEqual(["owner"]);
    const again = await instantiateCopy(caps, as("bob"), id);
    expect(again).toMatchObject({ created: false, view: { resource: { resourceId: made.view.resource.resourceId } } });
    await expect(getResource(caps, as("maker"), "e1", made.view.resource.resourceId)).rejects.toMatchObject({
      code: "notFound",
    });
    await expect(instantiateCopy(caps, as("maker"), id)).rejects.toMatchObject({ code: "notFound" });
    expect((await getCopy(caps, as("bob"), id)).instantiatedResourceId).toBe(made.view.resource.resourceId);
    const log = await caps.repo.environmentChanges("e1", undefined, 100);
    expect(log.items.find((e) => e.action === "copy.instantiated")).toMatchObject({
      actorId: "bob",
      resourceId: made.view.resource.resourceId,
    });
  });

  it("can't be revoked: it outlives the source flow", async () => {
    const { caps } = await world();
    const { copies } = await sendCopy(caps, as("maker"), "e1", "f1", { recipientIds: ["bob"] });
    await deleteResource(caps, as("maker"), "e1", "f1");
    expect((await getCopy(caps, as("bob"), copies[0]!.copyId)).displayName).toBe("Approve orders");
    expect((await instantiateCopy(caps, as("bob"), copies[0]!.copyId)).created).toBe(true);
  });

  it("needs the EnvironmentMaker role in the copy's environment to create the flow, and says so", async () => {
    const { caps } = await world();
    const { copies } = await sendCopy(caps, as("maker"), "e1", "f1", { recipientIds: ["basic", "norole", "outsider"] });
    for (const c of copies) {
      await expect(instantiateCopy(caps, as(c.recipientId), c.copyId)).rejects.toMatchObject({
        code: "ruleViolation",
        message: expect.stringMatching(/EnvironmentMaker/),
      });
    }
  });

  it("renders the recipient's email with the template's links and no connection", async () => {
    const { caps } = await world();
    const { copies } = await sendCopy(caps, as("maker"), "e1", "f1", {
      recipientIds: ["bob"],
      displayName: "<b>Mine</b>",
    });
    const deps: MailerDeps = {
      ...caps,
      sender: { send: async () => ({ messageId: "x" }) },
      invitations: { signingKey: "k".repeat(32), publicBaseUrl: "https://api.test", appBaseUrl: "https://app.test" },
    };
    const prepared = await prepareCopyEmail(deps, { kind: "copy", envId: "e1", copyId: copies[0]!.copyId });
    if ("skip" in prepared) throw new Error(prepared.skip);
    expect(prepared.email.to).toEqual([{ address: "bob@x.test", displayName: "BOB" }]);
    expect(prepared.email.subject).toContain("MAKER sent you a copy");
    expect(prepared.email.plainText).toContain(`https://api.test/api/copies/${copies[0]!.copyId}`);
    expect(prepared.email.html).toContain("&lt;b&gt;Mine&lt;/b&gt;");
    expect(prepared.email.html).not.toContain("<b>Mine");
    expect(await prepareCopyEmail(deps, { kind: "copy", envId: "e1", copyId: "missing" })).toHaveProperty("skip");
  });
});

describe("connection credentials", () => {
  const flow = (connections: { id: string; connector: string; ownerId: string; usage: "embedded" | "other" }[]) => ({
    kind: "cloudFlow" as const,
    displayName: "Approve orders",
    creatorId: "maker",
    solutionAware: true,
    triggerKind: "instant" as const,
    connections,
  });
  const original = [
    { id: "c1", connector: "Office 365 Outlook", ownerId: "maker", usage: "embedded" as const },
    { id: "c2", connector: "SharePoint", ownerId: "maker", usage: "other" as const },
  ];

  it("lets an owner use, drop or re-use others' connections, and add or change their own", async () => {
    const { caps } = await world();
    await putResource(
      caps,
      as("coowner"),
      "e1",
      "f1",
      flow([
        { ...original[0]!, usage: "other" },
        { ...original[1]!, usage: "embedded" },
      ]),
      undefined,
    );
    await putResource(
      caps,
      as("coowner"),
      "e1",
      "f1",
      flow([original[0]!, { id: "c3", connector: "Teams", ownerId: "coowner", usage: "embedded" }]),
      undefined,
    );
    await putResource(
      caps,
      as("coowner"),
      "e1",
      "f1",
      flow([original[0]!, { id: "c3", connector: "Microsoft Teams", ownerId: "coowner", usage: "embedded" }]),
      undefined,
    );
    await putResource(caps, as("maker"), "e1", "f1", flow([{ ...original[0]!, connector: "Outlook.com" }]), undefined);
  });

  it("refuses an owner changing the credentials of a connection another owner created", async () => {
    const { caps } = await world();
    await expect(
      putResource(caps, as("coowner"), "e1", "f1", flow([{ ...original[0]!, ownerId: "coowner" }]), undefined),
    ).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringMatching(/created by maker/),
    });
    await expect(
      putResource(caps, as("coowner"), "e1", "f1", flow([{ ...original[0]!, connector: "Gmail" }]), undefined),
    ).rejects.toMatchObject({ code: "forbidden" });
    await expect(
      putResource(
        caps,
        as("coowner"),
        "e1",
        "f1",
        flow([...original, { id: "c9", connector: "Teams", ownerId: "maker", usage: "embedded" }]),
        undefined,
      ),
    ).rejects.toMatchObject({ code: "forbidden" });
    await expect(
      putResource(caps, as("maker"), "e1", "f1", flow([{ ...original[0]!, ownerId: "coowner" }]), undefined),
    ).rejects.toMatchObject({ code: "forbidden" });
  });
});
