import type { ActionName, ResourceKind, Role } from "../../shared/rules/matrix.js";
import { resourceKinds } from "../../shared/rules/matrix.js";

/**
 * The tables of ../shared/spec/sharing-rules.md, copied by hand (y = yes, n = no), one row per
 * action and one column per role; the last column is the environment's SystemAdministrator.
 * Written independently of shared/rules/matrix.ts so that a wrong matrix fails here.
 */
export const spec: Record<ResourceKind, { holders: (Role | "admin")[]; rows: Record<string, string> }> = {
  processMining: {
    holders: ["owner", "coOwner", "viewer", "admin"],
    rows: {
      viewDetails: "yyyy",
      viewAnalytics: "yyyy",
      editDetails: "yyny",
      share: "yyny",
      editDataflow: "ynny",
      delete: "ynny",
      // Who it is shared with: the details page's "Shared with" card, for every role (seed 000).
      viewSharing: "yyyy",
    },
  },
  taskMining: {
    holders: ["owner", "coOwner", "contributor", "admin"],
    rows: {
      viewDetails: "yyyn",
      viewAnalytics: "yynn",
      updateProperties: "yynn",
      share: "yyny",
      addRecording: "yyyn",
      labelOwnRecording: "yyyn",
      deleteOwnRecording: "yyyn",
      labelOthersRecording: "yynn",
      deleteOthersRecording: "yynn",
      analyze: "ynnn",
      delete: "yynn",
      // Contributors see the details (seed 003); admins manage sharing, so they see it.
      viewSharing: "yyyy",
    },
  },
  cloudFlow: {
    // Flow admins are not in the seed tables; our decision (README): they manage owners and run-only users.
    holders: ["owner", "runOnly", "admin"],
    rows: {
      run: "yyn",
      viewRunHistory: "ynn",
      manageProperties: "ynn",
      editDefinition: "ynn",
      manageOwners: "yny",
      manageRunOnlyUsers: "yny",
      sendCopy: "ynn",
      delete: "ynn",
      // Run-only users "cannot view the flow" (seed 004): not who it is shared with either.
      viewSharing: "yny",
    },
  },
};

/** One row per kind × holder × action, with whether the spec allows it. */
export function specRows(): { kind: ResourceKind; holder: Role | "admin"; action: ActionName; allowed: boolean }[] {
  return resourceKinds.flatMap((kind) =>
    spec[kind].holders.flatMap((holder, col) =>
      Object.entries(spec[kind].rows).map(([verb, marks]) => ({
        kind,
        holder,
        action: `${kind}.${verb}` as ActionName,
        allowed: marks[col] === "y",
      })),
    ),
  );
}

/**
 * The share privilege of a custom security role (sharing-rules.md, "Custom security roles"), copied
 * by hand from its sentence: "view the details of, share and revoke (the roles an owner may grant)
 * every resource of that kind … without its other powers". Flows have no details action; sharing
 * them is managing owners and run-only users.
 */
export const sharePrivilegeSpec: Record<ResourceKind, Record<string, "y" | "n">> = {
  processMining: {
    viewDetails: "y",
    viewAnalytics: "n",
    editDetails: "n",
    share: "y",
    editDataflow: "n",
    delete: "n",
    viewSharing: "y",
  },
  taskMining: {
    viewDetails: "y",
    viewAnalytics: "n",
    updateProperties: "n",
    share: "y",
    addRecording: "n",
    labelOwnRecording: "n",
    deleteOwnRecording: "n",
    labelOthersRecording: "n",
    deleteOthersRecording: "n",
    analyze: "n",
    delete: "n",
    viewSharing: "y",
  },
  cloudFlow: {
    run: "n",
    viewRunHistory: "n",
    manageProperties: "n",
    editDefinition: "n",
    manageOwners: "y",
    manageRunOnlyUsers: "y",
    sendCopy: "n",
    delete: "n",
    viewSharing: "y",
  },
};

/**
 * One row per kind the role holds `share` on × kind of resource × action: the privilege allows what
 * the table says on resources of its own kind, and nothing on any other kind.
 */
export function sharePrivilegeRows(): {
  privilegeOn: ResourceKind;
  kind: ResourceKind;
  action: ActionName;
  allowed: boolean;
}[] {
  return resourceKinds.flatMap((privilegeOn) =>
    resourceKinds.flatMap((kind) =>
      Object.entries(sharePrivilegeSpec[kind]).map(([verb, mark]) => ({
        privilegeOn,
        kind,
        action: `${kind}.${verb}` as ActionName,
        allowed: privilegeOn === kind && mark === "y",
      })),
    ),
  );
}
