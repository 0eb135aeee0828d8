import { z } from "zod";
import { cloudEventSchema, deliveredEventTypes, webhookTestEventType } from "../../model/webhooks.js";
import { registeredRoutes } from "./define.js";

const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
});
/** A 400 names what was wrong: at least one field (`body.x`, `query.top`, `header.content-type`). */
const validationProblemSchema = problemSchema.extend({
  errors: z.array(z.object({ field: z.string().min(1), message: z.string() })).min(1),
});

/** The header of the creating POSTs (docs/idempotency.md). */
const idempotencyKeyParameter = {
  name: "Idempotency-Key",
  in: "header",
  required: false,
  description:
    "Makes a retry safe: the same key and request within 24 hours answer the first answer again, with Idempotency-Replayed: true.",
  schema: { type: "string", minLength: 1, maxLength: 255, pattern: "^[\\x20-\\x7E]+$" },
};

/** The success answers marked as possibly replayed, and the key's two refusals. */
function idempotencyResponses(success: Record<string, unknown>): Record<string, unknown> {
  const replayed = {
    "Idempotency-Replayed": {
      description: "true when this is the stored answer of an earlier request with the same Idempotency-Key",
      schema: { type: "string", enum: ["true"] },
    },
  };
  const problemContent = { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } };
  return {
    ...Object.fromEntries(
      Object.entries(success).map(([status, res]) => [
        status,
        { ...(res as object), headers: { ...((res as { headers?: object }).headers ?? {}), ...replayed } },
      ]),
    ),
    409: { description: "a request with the same Idempotency-Key is still running", content: problemContent },
    422: {
      description:
        "the Idempotency-Key was used with another request in the last 24 hours (or the request breaks a rule)",
      content: problemContent,
    },
  };
}

const toSchema = (s: z.ZodType) => z.toJSONSchema(s, { target: "draft-2020-12", io: "input", unrepresentable: "any" });
/**
 * Answers as the handler's output: zod's output mode closes each object (`additionalProperties:
 * false`), so a field the handler adds without the schema fails the e2e client's check.
 */
const toResponseSchema = (s: z.ZodType) =>
  z.toJSONSchema(s, { target: "draft-2020-12", io: "output", unrepresentable: "any" });

/**
 * The OpenAPI 3.1 document of every route registered in this process, built from the same zod schemas
 * that parse requests and type the answers, and the events subscriptions receive (`webhooks`).
 */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of [...registeredRoutes].sort((a, b) => a.route.localeCompare(b.route))) {
    const path = `/api/${r.route.replace(/\{(\w+)\?\}/g, "{$1}")}`;
    const parameters: unknown[] = [];
    const add = (where: "path" | "query", schema: z.ZodType | undefined) => {
      if (!schema) return;
      const js = toSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, s] of Object.entries(js.properties ?? {})) {
        parameters.push({
          name,
          in: where,
          required: where === "path" || (js.required ?? []).includes(name),
          schema: s,
        });
      }
    };
    add("path", r.params);
    add("query", r.query);
    if (r.idempotent) parameters.push(idempotencyKeyParameter);
    const responses: Record<string, unknown> = {};
    for (const [status, res] of Object.entries(r.responses)) {
      responses[status] = {
        description: res.description,
        ...(res.schema
          ? {
              content: {
                [res.contentType ?? "application/json"]: { schema: toResponseSchema(res.schema) },
                ...Object.fromEntries(
                  Object.entries(res.alsoAs ?? {}).map(([type, s]) => [type, { schema: toResponseSchema(s) }]),
                ),
              },
            }
          : {}),
      };
    }
    if (r.idempotent) Object.assign(responses, idempotencyResponses(responses));
    // A route that reads input says how it refuses bad input: the fields named (SCIM: its scimType).
    if ((r.params || r.query || r.body || r.idempotent) && responses[400] === undefined) {
      responses[400] = {
        description: "the request is invalid; the answer names each field that was wrong",
        content: r.errorFormat
          ? {
              [r.errorFormat.contentType]: {
                schema: toSchema(r.errorFormat.invalidInputSchema ?? r.errorFormat.schema),
              },
            }
          : { "application/problem+json": { schema: { $ref: "#/components/schemas/ValidationProblem" } } },
      };
    }
    if (r.auth !== false && responses[401] === undefined) {
      responses[401] = {
        description: "no valid token (or provisioning secret): the answer says how to authenticate",
        headers: {
          "WWW-Authenticate": { required: true, schema: { type: "string", pattern: "^Bearer " } },
        },
        content: r.errorFormat
          ? { [r.errorFormat.contentType]: { schema: toSchema(r.errorFormat.schema) } }
          : { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
      };
    }
    responses.default = {
      description: "an error",
      content: r.errorFormat
        ? { [r.errorFormat.contentType]: { schema: toSchema(r.errorFormat.schema) } }
        : { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
    };
    paths[path] ??= {};
    paths[path][r.method.toLowerCase()] = {
      operationId: r.name,
      summary: r.summary,
      ...(r.auth === false
        ? { security: [] }
        : r.acceptsProvisioningSecret
          ? { security: [{ bearer: [] }, { provisioningSecret: [] }] }
          : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(r.body
        ? {
            requestBody: {
              required: true,
              content: { [r.bodyContentType ?? "application/json"]: { schema: toSchema(r.body) } },
            },
          }
        : r.documentedBody
          ? {
              requestBody: {
                required: true,
                content: { [r.documentedBody.contentType]: { schema: toSchema(r.documentedBody.schema) } },
              },
            }
          : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Sharing and access governance",
      version: "1.0.0",
      description:
        "Answers made by the Functions host before the app runs are no operation's: 404 for a path no route serves, " +
        "405 with Allow for a method the path does not take, 413 for a body over the host's limit, 400 for a path " +
        "that is not validly percent-encoded. The local host answers them as application/problem+json (Problem), " +
        "also on the SCIM routes; in Azure the platform answers them with its own bodies (404 with no body, also " +
        "for a wrong method).",
    },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
        // Issued by POST .../scim/tokens, accepted by the SCIM routes of its environment only.
        provisioningSecret: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "scimp_{tokenId}_{secret}",
          description: "A provisioning secret of the environment (POST /api/environments/{envId}/scim/tokens).",
        },
      },
      schemas: { Problem: toSchema(problemSchema), ValidationProblem: toSchema(validationProblemSchema) },
    },
    paths,
    webhooks: webhookOperations(),
  };
}

/**
 * The events a subscription receives (OpenAPI 3.1 `webhooks`): one POST per event type, its body
 * the CloudEvents schema with that type, signed with the Standard Webhooks headers.
 */
function webhookOperations(): Record<string, unknown> {
  const header = (name: string, description: string) => ({
    name,
    in: "header",
    required: true,
    description,
    schema: { type: "string" },
  });
  return Object.fromEntries(
    deliveredEventTypes.map((type) => [
      type,
      {
        post: {
          operationId: `webhook.${type}`,
          summary:
            type === webhookTestEventType
              ? "The test event, POSTed to one subscription by `POST .../webhooks/{subscriptionId}/test`, whatever types it names."
              : `The ${type} event, POSTed to each subscription of the environment that names it.`,
          parameters: [
            header("webhook-id", "The event's id, the same on every retry: drop a repeat."),
            header("webhook-timestamp", "This attempt's time, Unix seconds: refuse one far from now."),
            header("webhook-signature", "Space-separated `v1,{base64 HMAC-SHA256}` entries, one per signing secret."),
          ],
          requestBody: {
            required: true,
            content: {
              "application/json": { schema: toSchema(cloudEventSchema.extend({ type: z.literal(type) })) },
            },
          },
          responses: {
            "2XX": { description: "received; any other answer is retried on the contract's schedule" },
            "410": { description: "gone: the subscription is disabled" },
          },
        },
      },
    ]),
  );
}
