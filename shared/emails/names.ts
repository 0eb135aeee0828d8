import type { ResourceKind, Role } from "../rules/matrix.js";

/** How emails and pages name resource kinds. */
export const kindNames: Record<ResourceKind, string> = {
  processMining: "process mining process",
  taskMining: "task mining process",
  cloudFlow: "cloud flow",
};

/** How emails and pages name roles, with their article: "a co-owner". */
export const roleNames: Record<Role, string> = {
  owner: "an owner",
  coOwner: "a co-owner",
  viewer: "a viewer",
  contributor: "a contributor",
  runOnly: "a run-only user",
};
