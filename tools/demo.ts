/**
 * Demo data for `npm start`, loaded through the HTTP API itself with an app token (Sharing.Admin),
 * so it goes through the same paths as any integration. Safe to run again: every call is idempotent.
 */
export interface DemoApi {
  baseUrl: string;
  token: (sub: string, roles?: string[]) => Promise<string>;
}

export interface DemoResult {
  envId: string;
  people: { label: string; id: string }[];
  resources: { kind: string; id: string; displayName: string }[];
}

export const demoEnvId = "demo";

const people = [
  {
    label: "maker",
    id: "demo-maker",
    displayName: "Megan Maker",
    email: "megan.maker@contoso.example",
    userType: "member",
    license: "paid",
    roles: ["EnvironmentMaker"],
  },
  {
    label: "co-owner",
    id: "demo-coowner",
    displayName: "Carlos Coowner",
    email: "carlos.coowner@contoso.example",
    userType: "member",
    license: "paid",
    roles: ["EnvironmentMaker"],
  },
  {
    label: "guest",
    id: "demo-guest",
    displayName: "Gina Guest",
    email: "gina@fabrikam.example",
    userType: "guest",
    license: "free",
    roles: ["BasicUser"],
  },
  {
    label: "admin",
    id: "demo-admin",
    displayName: "Ada Admin",
    email: "ada.admin@contoso.example",
    userType: "member",
    license: "paid",
    roles: ["SystemAdministrator"],
  },
  {
    label: "leaver",
    id: "demo-leaver",
    displayName: "Leo Leaver",
    email: "leo.leaver@contoso.example",
    userType: "member",
    license: "paid",
    roles: ["EnvironmentMaker"],
  },
] as const;

const resources = [
  {
    id: "demo-invoices",
    body: {
      kind: "processMining",
      displayName: "Invoice processing",
      description: "Purchase-to-pay invoices, 2026",
      creatorId: "demo-maker",
      analyticsReady: true,
    },
  },
  {
    id: "demo-expenses",
    body: {
      kind: "taskMining",
      displayName: "Expense reporting",
      description: "How expense reports are filed",
      creatorId: "demo-maker",
    },
  },
  {
    id: "demo-approvals",
    body: {
      kind: "cloudFlow",
      displayName: "Approve purchase orders",
      creatorId: "demo-maker",
      solutionAware: true,
      triggerKind: "instant",
      connections: [
        { id: "demo-outlook", connector: "Office 365 Outlook", ownerId: "demo-maker", usage: "embedded" },
        { id: "demo-sharepoint", connector: "SharePoint", ownerId: "demo-maker", usage: "other" },
      ],
    },
  },
] as const;

async function call(api: DemoApi, token: string, method: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${api.baseUrl}/api/${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`demo data: ${method} ${path} answered ${res.status}: ${await res.text()}`);
}

export async function seedDemo(api: DemoApi): Promise<DemoResult> {
  const admin = await api.token("demo-loader", ["Sharing.Admin"]);
  await call(api, admin, "PUT", `environments/${demoEnvId}`, {
    displayName: "Contoso (default)",
    isDefault: true,
    sensitive: true,
    expectedOwnerGroupIds: ["demo-owners"],
    maxOwners: 3,
  });
  for (const p of people) {
    await call(api, admin, "PUT", `users/${p.id}`, {
      email: p.email,
      displayName: p.displayName,
      userType: p.userType,
      enabled: true,
      license: p.license,
    });
    await call(api, admin, "PUT", `environments/${demoEnvId}/users/${p.id}`, { securityRoles: p.roles });
  }
  await call(api, admin, "PUT", `environments/${demoEnvId}/groups/demo-owners`, {
    displayName: "Process owners",
    kind: "securityGroup",
    memberIds: ["demo-maker", "demo-coowner"],
  });
  const maker = await api.token("demo-maker");
  for (const r of resources) await call(api, maker, "PUT", `environments/${demoEnvId}/resources/${r.id}`, r.body);
  for (const [resourceId, role] of [
    ["demo-invoices", "coOwner"],
    ["demo-expenses", "coOwner"],
    ["demo-approvals", "owner"],
  ] as const) {
    await call(api, maker, "POST", `environments/${demoEnvId}/resources/${resourceId}/shares`, {
      role,
      principals: [{ type: "user", id: "demo-coowner" }],
      sendInvitation: false,
    });
  }
  // Something for the audit to find: a guest co-owning the flow, and a viewer who has since left.
  await call(api, maker, "POST", `environments/${demoEnvId}/resources/demo-approvals/shares`, {
    role: "owner",
    principals: [{ type: "user", id: "demo-guest" }],
    sendInvitation: false,
  });
  await call(api, maker, "POST", `environments/${demoEnvId}/resources/demo-invoices/shares`, {
    role: "viewer",
    principals: [{ type: "user", id: "demo-leaver" }],
    sendInvitation: false,
  });
  const leaver = people.find((p) => p.id === "demo-leaver")!;
  await call(api, admin, "PUT", `users/${leaver.id}`, {
    email: leaver.email,
    displayName: leaver.displayName,
    userType: leaver.userType,
    enabled: false,
    license: leaver.license,
  });
  return {
    envId: demoEnvId,
    people: people.filter((p) => p.id !== "demo-leaver").map((p) => ({ label: p.label, id: p.id })),
    resources: resources.map((r) => ({ kind: r.body.kind, id: r.id, displayName: r.body.displayName })),
  };
}
