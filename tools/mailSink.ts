/**
 * A local stand-in for Azure Communication Services email: it speaks enough of the ACS email REST API
 * (HMAC auth included) for the real `@azure/communication-email` client to send to it, keeps every
 * message, shows them on a small web page, and stands in for the product (`/app/*`) that accepting an
 * invitation redirects to.
 *
 * The entry point; the parts live in `mailSink/`: `acs.ts` (the protocol and its HMAC check),
 * `store.ts` (messages, operations, dedup on Operation-Id), `faults.ts` (injected failures),
 * `pages.ts` and `links.ts` (the web pages), `server.ts` (the wiring).
 */
export { startMailSink, type MailSink, type MailSinkOptions } from "./mailSink/server.js";
export type { InjectedFailureStatus } from "./mailSink/faults.js";
export type { SinkMessage } from "./mailSink/store.js";
