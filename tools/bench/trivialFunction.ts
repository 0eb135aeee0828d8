/**
 * A function that does nothing, loaded into the local host by the bench (never imported: loading it
 * registers it): through HTTP it costs what the host adds (routing, request and response conversion,
 * invocation) over a bare node:http server. Its route is `trivialPath` in setup.ts.
 */
import { app } from "@azure/functions";

app.http("benchTrivial", {
  methods: ["GET"],
  route: "bench/trivial",
  authLevel: "anonymous",
  handler: () => ({ jsonBody: { fn: "benchTrivial" } }),
});
