import { defineHttp, json } from "../shared/adapters/http/define.js";
import { actionsCatalog } from "../shared/usecases/catalog.js";

export const handler = defineHttp(
  {
    name: "actions",
    route: "actions",
    method: "GET",
    narrowApps: ["Sharing.Check"],
    summary: "Every action per resource kind, with the roles that allow it.",
    responses: { 200: { description: "the matrix" } },
  },
  async () => json(200, actionsCatalog()),
);
