import {
  allowedVerbs,
  grantableRoles,
  resourceKinds,
  rolesByKind,
  verbsByKind,
  verbToManage,
} from "../rules/matrix.js";

/** `GET /api/actions`: the rules' matrix, per kind: each action and the roles (and admin) that allow it. */
export function actionsCatalog() {
  return {
    kinds: resourceKinds.map((kind) => {
      const table: Record<string, readonly string[]> = allowedVerbs[kind];
      return {
        kind,
        roles: rolesByKind[kind],
        grantableRoles: grantableRoles[kind],
        manageVerbs: verbToManage[kind],
        actions: verbsByKind[kind].map((verb) => ({
          action: `${kind}.${verb}`,
          allowedFor: Object.keys(table).filter((holder) => table[holder]!.includes(verb)),
        })),
      };
    }),
  };
}
