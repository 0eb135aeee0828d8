import { DomainError, type ErrorCode } from "../../errors.js";

/** The `scimType` values of RFC 7644 §3.12 this service answers with. */
export type ScimType =
  | "invalidFilter"
  | "tooMany"
  | "uniqueness"
  | "mutability"
  | "invalidSyntax"
  | "invalidPath"
  | "noTarget"
  | "invalidValue";

/** A domain error that also names its SCIM `scimType`, for the SCIM error body. */
export class ScimError extends DomainError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly scimType: ScimType | undefined,
  ) {
    super(code, message);
    this.name = "ScimError";
  }
}

export const scimInvalid = (scimType: ScimType, message: string) => new ScimError("invalidInput", message, scimType);
export const scimNotFound = (message: string) => new ScimError("notFound", message, undefined);
export const scimConflict = (message: string) => new ScimError("conflict", message, "uniqueness");
