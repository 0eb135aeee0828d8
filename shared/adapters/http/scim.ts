import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import { z } from "zod";
import { DomainError } from "../../errors.js";
import { scimContentType, scimUrn } from "../../model/scim.js";
import type { ScimBase } from "../../usecases/scim/common.js";
import { ScimError, type ScimType } from "../../usecases/scim/errors.js";
import type { RouteSpec } from "./define.js";
import { toProblem } from "./problem.js";

/** A SCIM response: `application/scim+json` (RFC 7644 §3.1), whatever the status. */
export const scimJson = (status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit => ({
  status,
  headers: { "content-type": `${scimContentType}; charset=utf-8`, ...headers },
  body: JSON.stringify(body),
});

/** RFC 7644 §3.12: the error body, `status` as a string. */
export const scimErrorSchema = z.object({
  schemas: z.array(z.literal(scimUrn.error)),
  status: z.string(),
  scimType: z.string().optional(),
  detail: z.string(),
});

/**
 * The error map of the SCIM routes: the same statuses, details and logging as the one problem+json
 * map (`toProblem`), in SCIM's error body. Invalid input names each bad field in `detail`.
 */
export function toScimError(e: unknown, log: (message: string) => void): HttpResponseInit {
  const problem = toProblem(e, log);
  const parsed = JSON.parse(String(problem.body)) as {
    status: number;
    detail: string;
    errors?: { field: string; message: string }[];
  };
  const fields = parsed.errors?.map((f) => `${f.field}: ${f.message}`).join("; ");
  let scimType: ScimType | undefined = e instanceof ScimError ? e.scimType : undefined;
  if (!scimType && e instanceof DomainError && e.code === "invalidInput")
    scimType = parsed.errors?.some((f) => f.field === "body" || f.field.startsWith("header."))
      ? "invalidSyntax"
      : "invalidValue";
  const headers = { ...(problem.headers as Record<string, string>) };
  delete headers["content-type"];
  return scimJson(
    parsed.status,
    {
      schemas: [scimUrn.error],
      status: String(parsed.status),
      ...(scimType ? { scimType } : {}),
      detail: fields ? `${parsed.detail}: ${fields}` : parsed.detail,
    },
    headers,
  );
}

/** What every SCIM route declares: its errors in SCIM's shape, its bodies as `application/scim+json`. */
export const scimRoute = {
  // Provisioning apps hold a narrow role that admits them only where a route says so.
  narrowApps: ["Sharing.Provisioning"],
  // The environment's provisioning secrets (POST .../scim/tokens) work here, and on no other route.
  acceptsProvisioningSecret: true,
  errorFormat: {
    contentType: scimContentType,
    schema: scimErrorSchema,
    // Every invalid input gets a scimType (below): invalidSyntax, invalidValue or the ScimError's own.
    invalidInputSchema: scimErrorSchema.required({ scimType: true }),
    toResponse: toScimError,
  },
  bodyContentType: scimContentType,
} satisfies Partial<RouteSpec<unknown, unknown, unknown>>;

/** The environment's SCIM base as the client reached it, for `meta.location`. */
export function scimBase(request: HttpRequest, envId: string): ScimBase {
  const url = new URL(request.url);
  return { url: `${url.origin}/api/environments/${envId}/scim/v2` };
}
