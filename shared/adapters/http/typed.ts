import type { HttpResponseInit } from "@azure/functions";
import type { z } from "zod";
import { json } from "./define.js";
import { scimJson } from "./scim.js";

/** The body is only serialised, so read-only tables (the rules' matrix) are as good as mutable ones. */
type DeepReadonly<T> = T extends (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/**
 * `json`, with the body held at compile time to the schema the route declares for the OpenAPI
 * document, so the document and the handler can't drift apart unnoticed. (An extra field on a
 * variable escapes the compiler; the e2e client's check of every answer against the document catches it.)
 */
export const typedJson = <S extends z.ZodType>(
  _schema: S,
  status: number,
  body: DeepReadonly<z.output<S>>,
  headers?: Record<string, string>,
): HttpResponseInit => json(status, body, headers);

/** `scimJson`, held to the route's declared schema as `typedJson` is. */
export const typedScimJson = <S extends z.ZodType>(
  _schema: S,
  status: number,
  body: DeepReadonly<z.output<S>>,
  headers?: Record<string, string>,
): HttpResponseInit => scimJson(status, body, headers);
