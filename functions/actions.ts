import { defineHttp } from "../shared/adapters/http/define.js";
import { actionsCatalog } from "../shared/usecases/catalog.js";
import { typedJson } from "../shared/adapters/http/typed.js";
import { actionsCatalogView } from "../shared/model/responses.js";

export const handler = defineHttp(
  {
    name: "actions",
    route: "actions",
    method: "GET",
    narrowApps: ["Sharing.Check"],
    summary: "Every action per resource kind, with the roles that allow it.",
    responses: { 200: { description: "the matrix", schema: actionsCatalogView } },
  },
  async () => typedJson(actionsCatalogView, 200, actionsCatalog()),
);
