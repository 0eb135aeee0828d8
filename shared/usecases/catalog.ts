import {
  allowedVerbs,
  grantableRoles,
  privilegeHolder,
  privileges,
  resourceKinds,
  rolesByKind,
  verbsByKind,
  verbToManage,
} from "../rules/matrix.js";

const privilegeHolders: readonly string[] = privileges.map(privilegeHolder);

/**
 * `GET /api/actions`: the rules' matrix, per kind: each action, the roles (and admin) that allow it,
 * and the custom security roles' privileges on that kind that allow it (`allowedForPrivileges`, a
 * field of its own so `allowedFor` keeps its version 1 meaning).
 */
export function actionsCatalog() {
  return {
    privileges,
    kinds: resourceKinds.map((kind) => {
      const table: Record<string, readonly string[]> = allowedVerbs[kind];
      const holdersOf = (verb: string) => Object.keys(table).filter((holder) => table[holder]!.includes(verb));
      return {
        kind,
        roles: rolesByKind[kind],
        grantableRoles: grantableRoles[kind],
        manageVerbs: verbToManage[kind],
        actions: verbsByKind[kind].map((verb) => ({
          action: `${kind}.${verb}`,
          allowedFor: holdersOf(verb).filter((h) => !privilegeHolders.includes(h)),
          allowedForPrivileges: privileges.filter((p) => holdersOf(verb).includes(privilegeHolder(p))),
        })),
      };
    }),
  };
}
