/**
 * Handler tests without a host: the real handlers (`export const handler` of `functions/*.ts`), called
 * with `HttpRequest` and `InvocationContext` objects built here, on services whose use cases run on the
 * in-memory store. Authentication is the real one, with a development key made for the test file.
 *
 * Call `handlerServices()` before importing any function module: registering a function builds the
 * app's services, and `useServices` is what keeps that from reading settings from the environment.
 */
import { HttpRequest, HttpResponse, InvocationContext, type HttpHandler } from "@azure/functions";
import { createAuthenticator } from "../../shared/adapters/http/auth.js";
import { signDevToken } from "../../shared/adapters/http/devToken.js";
import { parseSettings } from "../../shared/config.js";
import { useServices, type Services } from "../../shared/main.js";
import { putResource } from "../../shared/usecases/resources.js";
import { randomKey } from "../../tools/settings.js";
import { memoryCaps, seedDirectory } from "../support/memoryCaps.js";

export function handlerServices() {
  const key = randomKey();
  const settings = parseSettings({
    AzureWebJobsStorage: "UseDevelopmentStorage=true",
    ACS_CONNECTION_STRING: `endpoint=http://127.0.0.1:1/;accesskey=${Buffer.from("k".repeat(40)).toString("base64")}`,
    AUTH_DEV_SIGNING_KEY: key,
    INVITATION_SIGNING_KEY: randomKey(),
    EMAIL_SENDER: "DoNotReply@sharing.test",
    PUBLIC_BASE_URL: "http://localhost:7071",
    APP_BASE_URL: "http://localhost:7072/app",
  });
  const { caps, sent } = memoryCaps();
  const services: Services = {
    settings,
    caps,
    authenticate: createAuthenticator(settings),
    emailSender: () => {
      throw new Error("handler tests send no email: the email queue is an array (sent)");
    },
  };
  useServices(services);
  return {
    services,
    caps,
    sent,
    /** A development token for `sub`, as the local host and the tests' stack accept. */
    token: (sub: string, roles?: string[]) => signDevToken(key, { sub, ...(roles ? { roles } : {}) }),
  };
}

export interface Call {
  method: string;
  /** The path after `/api/`, for the request's URL. */
  path: string;
  /** The route's parameters, as the host would fill them from the path. */
  params?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** A string is sent as is, anything else as JSON; either with `content-type: application/json` unless `headers` say otherwise. */
  body?: unknown;
  token?: string;
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The body as JSON, or undefined when it is not JSON. */
  json: unknown;
  /** What the handler logged through its context, one entry per call. */
  logs: string[];
}

/** Calls a handler as the host would, and reads its answer back as a client would. */
export async function call(handler: HttpHandler, c: Call): Promise<Answer> {
  const logs: string[] = [];
  const json = c.body !== undefined && typeof c.body !== "string";
  const request = new HttpRequest({
    method: c.method,
    url: `http://localhost:7071/api/${c.path}`,
    params: c.params ?? {},
    query: c.query ?? {},
    headers: {
      ...(c.body !== undefined ? { "content-type": "application/json" } : {}),
      ...(c.token ? { authorization: `Bearer ${c.token}` } : {}),
      ...c.headers,
    },
    ...(c.body !== undefined ? { body: { string: json ? JSON.stringify(c.body) : String(c.body) } } : {}),
  });
  const context = new InvocationContext({
    functionName: "test",
    logHandler: (level, ...args) => logs.push(`${level}: ${args.map(String).join(" ")}`),
  });
  const response = new HttpResponse(await handler(request, context));
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status ?? 200, headers: response.headers, text, json: parsed, logs };
}

export interface Problem {
  status: number;
  title: string;
  detail: string;
  errors?: { field: string; message: string }[];
}

/** The answer's problem+json body, after checking its status and content type. */
export function problemOf(a: Answer, status: number): Problem {
  if (a.status !== status) throw new Error(`expected ${status}, got ${a.status}: ${a.text}`);
  const type = a.headers.get("content-type") ?? "";
  if (!type.startsWith("application/problem+json")) throw new Error(`expected problem+json, got ${type}: ${a.text}`);
  const p = a.json as Problem;
  if (p.status !== status) throw new Error(`the problem's status is ${p.status}, not ${status}`);
  return p;
}

/**
 * Environment `e` with a maker (who registered processMining resource `p1`), a BasicUser viewer, an
 * environment admin, a disabled environment admin, and a tenant user outside the environment.
 */
export async function seed(caps: Services["caps"]): Promise<void> {
  await seedDirectory(
    caps,
    "e",
    [
      ["maker", true, ["EnvironmentMaker"]],
      ["viewer", true, ["BasicUser"]],
      ["admin", true, ["SystemAdministrator"]],
      ["disabledAdmin", false, ["SystemAdministrator"]],
      ["outsider", true, null],
    ],
    "contoso.example",
  );
  await putResource(
    caps,
    { principalId: "maker", appRoles: [] },
    "e",
    "p1",
    { kind: "processMining", displayName: "Invoices", creatorId: "maker", analyticsReady: true },
    undefined,
  );
}
