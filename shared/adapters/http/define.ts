import {
  app,
  type HttpHandler,
  type HttpRequest,
  type HttpResponseInit,
  type InvocationContext,
} from "@azure/functions";
import type { z } from "zod";
import { getServices, startServices, type Services } from "../../main.js";
import { forbidden } from "../../errors.js";
import { narrowAppRefusal, type Caller, type NarrowAppRole } from "../../usecases/capabilities.js";
import { isProvisioningSecretHeader } from "../../usecases/scim/secret.js";
import { authenticateProvisioningSecret } from "../../usecases/scim/tokens.js";
import { idempotencyKeyOf, requestHash, runIdempotent } from "./idempotency.js";
import { parseJsonText, parseWith } from "./parse.js";
import { toProblem } from "./problem.js";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface RouteSpec<P, Q, B> {
  /** The function's name, as the file is named. */
  name: string;
  route: string;
  method: Method;
  summary: string;
  /** Bodies larger than this are refused with 400 (default `maxBodyBytes`, 256 KiB). */
  maxBodyBytes?: number;
  /** False for the invitation pages and health, which take no token. */
  auth?: boolean;
  /**
   * The narrow app roles this route admits (`Sharing.Check`: checks, effective access, the actions
   * list; `Sharing.Provisioning`: SCIM and the directory routes). An app holding only narrow roles
   * the route doesn't admit gets 403 before anything is read.
   */
  narrowApps?: readonly NarrowAppRole[];
  /**
   * Whether a provisioning secret (`Bearer scimp_…`, issued by POST .../scim/tokens) is accepted here
   * besides JWTs: only the SCIM routes say so (`scimRoute`), and the route must have an `{envId}`,
   * the one environment the secret is checked against. Everywhere else such a bearer is no JWT: 401.
   */
  acceptsProvisioningSecret?: boolean;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /**
   * Honours `Idempotency-Key` (docs/idempotency.md): the creating POSTs say so. The object form names
   * the statuses that mean "post the same request again to continue", which are not kept, so the same
   * key continues the work rather than replaying the unfinished answer.
   */
  idempotent?: true | { continueStatuses: readonly number[] };
  /** Success responses for the OpenAPI document: status to description and schema. */
  responses: Record<
    number,
    {
      description: string;
      schema?: z.ZodType;
      contentType?: string;
      /** Other media types the same status answers with, as `Accept` asks (an audit's CSV): type to schema. */
      alsoAs?: Record<string, z.ZodType>;
    }
  >;
  /** The body's media type in the OpenAPI document (default `application/json`; any JSON type is accepted). */
  bodyContentType?: string;
  /**
   * A body the handler reads itself (the reviewer page's form post), for the OpenAPI document only:
   * its media type and fields. `body` stays unset, so nothing here parses it as JSON.
   */
  documentedBody?: { contentType: string; schema: z.ZodType };
  /**
   * Errors in another shape than problem+json (SCIM's error body): the map, and its media type and
   * schema for the OpenAPI document. Default: the one problem+json map.
   */
  errorFormat?: {
    contentType: string;
    schema: z.ZodType;
    /** The narrower shape of its 400s, when it has one. */
    invalidInputSchema?: z.ZodType;
    toResponse: (e: unknown, log: (message: string) => void) => HttpResponseInit;
  };
}

export interface HandlerInput<P, Q, B> {
  caller: Caller;
  params: P;
  query: Q;
  body: B;
  request: HttpRequest;
  context: InvocationContext;
  services: Services;
}

/** Every route registered in this process, for the OpenAPI document. */
export const registeredRoutes: RouteSpec<unknown, unknown, unknown>[] = [];

const anonymous: Caller = { principalId: "anonymous", appRoles: [] };

/**
 * Registers an HTTP function: authenticate, parse params, query and body with zod, run, and map any
 * error to problem+json through the one error map. Registering checks the settings (`startServices`),
 * so a bad one fails the app as it loads. Returns the handler, for tests that call it without a host.
 */
export function defineHttp<P = Record<string, never>, Q = Record<string, never>, B = undefined>(
  spec: RouteSpec<P, Q, B>,
  run: (input: HandlerInput<P, Q, B>) => Promise<HttpResponseInit>,
): HttpHandler {
  startServices();
  registeredRoutes.push(spec as RouteSpec<unknown, unknown, unknown>);
  const handler: HttpHandler = async (request, context) => {
    const errorResponse = (e: unknown) => (spec.errorFormat?.toResponse ?? toProblem)(e, (m) => context.error(m));
    try {
      const services = getServices();
      const authorization = request.headers.get("authorization");
      const caller =
        spec.auth === false
          ? anonymous
          : spec.acceptsProvisioningSecret === true && isProvisioningSecretHeader(authorization)
            ? await authenticateProvisioningSecret(services.caps, authorization, request.params.envId)
            : await services.authenticate(authorization);
      const refusal = spec.auth === false ? undefined : narrowAppRefusal(caller, spec.narrowApps ?? []);
      if (refusal) throw forbidden(refusal);
      const params = spec.params ? parseWith("params", spec.params, request.params) : ({} as P);
      const query = spec.query
        ? parseWith("query", spec.query, Object.fromEntries(request.query.entries()))
        : ({} as Q);
      const text = spec.body ? await request.text() : undefined;
      const body = spec.body
        ? parseWith(
            "body",
            spec.body,
            parseJsonText(text ?? "", request.headers.get("content-type"), spec.maxBodyBytes),
          )
        : (undefined as B);
      const key = spec.idempotent ? idempotencyKeyOf(request) : undefined;
      if (key === undefined) return await run({ caller, params, query, body, request, context, services });
      // Checked after the request parsed: a request refused before it ran keeps nothing (as Stripe does).
      return await runIdempotent(
        services.caps.idempotency,
        { callerId: caller.principalId, route: spec.name, key },
        requestHash(request, text),
        services.caps.clock(),
        {
          continueStatuses: spec.idempotent === true ? [] : (spec.idempotent?.continueStatuses ?? []),
          log: (m) => context.warn(m),
        },
        async () => {
          try {
            return await run({ caller, params, query, body, request, context, services });
          } catch (e) {
            return errorResponse(e);
          }
        },
      );
    } catch (e) {
      return errorResponse(e);
    }
  };
  app.http(spec.name, { route: spec.route, methods: [spec.method], authLevel: "anonymous", handler });
  return handler;
}

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit => ({
  status,
  headers: { "content-type": "application/json; charset=utf-8", ...headers },
  body: JSON.stringify(body),
});

export const noContent = (): HttpResponseInit => ({ status: 204 });
