import { maxScimPage, scimUrn } from "../../model/scim.js";
import type { Caller } from "../capabilities.js";
import { listResponse, requireProvisioner, type Deps, type ScimBase } from "./common.js";

/** RFC 7643 §5: what this service supports; what it leaves out says `supported: false`. */
export async function serviceProviderConfig(deps: Pick<Deps, "repo">, caller: Caller, envId: string, base: ScimBase) {
  await requireProvisioner(deps, caller, envId);
  return {
    schemas: [scimUrn.serviceProviderConfig],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: maxScimPage },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: false },
    authenticationSchemes: [
      {
        type: "oauthbearertoken",
        name: "OAuth Bearer Token",
        description:
          "A provisioning secret of this environment (POST .../scim/tokens), or a Microsoft Entra ID app token carrying the Sharing.Provisioning app role",
        primary: true,
      },
    ],
    meta: { resourceType: "ServiceProviderConfig", location: `${base.url}/ServiceProviderConfig` },
  };
}

const resourceTypes = (base: ScimBase) => [
  {
    schemas: [scimUrn.resourceType],
    id: "User",
    name: "User",
    endpoint: "/Users",
    description: "A tenant user's membership of this environment",
    schema: scimUrn.user,
    meta: { resourceType: "ResourceType", location: `${base.url}/ResourceTypes/User` },
  },
  {
    schemas: [scimUrn.resourceType],
    id: "Group",
    name: "Group",
    endpoint: "/Groups",
    description: "A security group of this environment",
    schema: scimUrn.group,
    meta: { resourceType: "ResourceType", location: `${base.url}/ResourceTypes/Group` },
  },
];

export async function listResourceTypes(deps: Pick<Deps, "repo">, caller: Caller, envId: string, base: ScimBase) {
  await requireProvisioner(deps, caller, envId);
  const all = resourceTypes(base);
  return listResponse(all, { startIndex: 1, count: all.length });
}

interface AttributeSpec {
  name: string;
  type?: "string" | "boolean" | "complex" | "reference";
  multiValued?: boolean;
  required?: boolean;
  caseExact?: boolean;
  mutability?: "readOnly" | "readWrite" | "immutable";
  uniqueness?: "none" | "server";
  subAttributes?: AttributeSpec[];
}

/** An attribute definition of RFC 7643 §7 with its defaults spelled out, as clients expect them. */
function attribute(a: AttributeSpec): Record<string, unknown> {
  return {
    name: a.name,
    type: a.type ?? "string",
    multiValued: a.multiValued ?? false,
    required: a.required ?? false,
    caseExact: a.caseExact ?? false,
    mutability: a.mutability ?? "readWrite",
    returned: "default",
    uniqueness: a.uniqueness ?? "none",
    ...(a.subAttributes ? { subAttributes: a.subAttributes.map(attribute) } : {}),
  };
}

const schemas = (base: ScimBase) => [
  {
    schemas: [scimUrn.schema],
    id: scimUrn.user,
    name: "User",
    description: "A user provisioned into the environment; userName is the user's email",
    attributes: [
      { name: "userName", required: true, uniqueness: "server" },
      { name: "externalId", caseExact: true },
      { name: "displayName" },
      {
        name: "name",
        type: "complex",
        subAttributes: [{ name: "formatted" }, { name: "givenName" }, { name: "familyName" }],
      },
      {
        name: "emails",
        type: "complex",
        multiValued: true,
        subAttributes: [{ name: "value" }, { name: "type" }, { name: "primary", type: "boolean" }],
      },
      { name: "userType" },
      { name: "active", type: "boolean" },
    ].map((a) => attribute(a as AttributeSpec)),
    meta: { resourceType: "Schema", location: `${base.url}/Schemas/${scimUrn.user}` },
  },
  {
    schemas: [scimUrn.schema],
    id: scimUrn.group,
    name: "Group",
    description: "A security group of the environment; displayName is unique in it",
    attributes: [
      { name: "displayName", required: true, uniqueness: "server" },
      { name: "externalId", caseExact: true },
      {
        name: "members",
        type: "complex",
        multiValued: true,
        subAttributes: [
          { name: "value", mutability: "immutable" },
          { name: "$ref", type: "reference", mutability: "immutable" },
        ],
      },
    ].map((a) => attribute(a as AttributeSpec)),
    meta: { resourceType: "Schema", location: `${base.url}/Schemas/${scimUrn.group}` },
  },
];

export async function listSchemas(deps: Pick<Deps, "repo">, caller: Caller, envId: string, base: ScimBase) {
  await requireProvisioner(deps, caller, envId);
  const all = schemas(base);
  return listResponse(all, { startIndex: 1, count: all.length });
}
