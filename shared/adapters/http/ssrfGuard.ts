import { lookup } from "node:dns/promises";
import type { LookupFunction } from "node:net";
import ipaddr from "ipaddr.js";
import type { CheckWebhookTarget, ResolvedAddress, WebhookTargetCheck } from "../../ports/webhookTargets.js";

/** Every address a host name resolves to (all of them: one private address among public ones is refused). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const dnsResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

/** getaddrinfo has no timeout of its own; a request waits at most this long for a name. */
const resolveTimeoutMs = 5000;

/**
 * The special-purpose range an address falls in (`loopback`, `private`, `linkLocal`, `uniqueLocal`,
 * `carrierGradeNat`, `reserved`, `multicast`, …, as ipaddr.js names the IANA registries), or
 * undefined for a public unicast address. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is judged
 * as the IPv4 address it carries. Anything ipaddr.js doesn't call `unicast` is refused, the
 * translation prefixes (NAT64, 6to4, Teredo) included, since they can lead back to private IPv4.
 */
export function nonPublicRange(address: string): string | undefined {
  if (!ipaddr.isValid(address)) return "unparseable";
  let ip = ipaddr.parse(address);
  if (ip instanceof ipaddr.IPv6 && ip.isIPv4MappedAddress()) ip = ip.toIPv4Address();
  const range = ip.range();
  return range === "unicast" ? undefined : range;
}

export interface WebhookTargetPolicy {
  /** `WEBHOOK_ALLOW_LOOPBACK_HTTP`: local and test runs may call a receiver on this machine, over http too. */
  allowLoopbackHttp: boolean;
  resolve?: Resolver;
}

async function resolveWithin(resolve: Resolver, hostname: string): Promise<ResolvedAddress[] | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((done) => {
    timer = setTimeout(
      () => done(`its host ${hostname} did not resolve within ${resolveTimeoutMs / 1000} s`),
      resolveTimeoutMs,
    );
  });
  try {
    const found = await Promise.race([resolve(hostname).catch(() => [] as ResolvedAddress[]), timeout]);
    if (typeof found !== "string" && found.length === 0) return `its host ${hostname} does not resolve`;
    return found;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The SSRF guard for webhook URLs: `https` only, no credentials in the URL, and every address the
 * host resolves to (or the literal address) public unicast. With `allowLoopbackHttp`, loopback
 * addresses are allowed too, and `http` for them only. On success, the address to connect to.
 */
export async function checkWebhookTarget(raw: string, policy: WebhookTargetPolicy): Promise<WebhookTargetCheck> {
  const refuse = (reason: string): WebhookTargetCheck => ({ ok: false, reason });
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse("must be an absolute URL");
  }
  const httpsRule = policy.allowLoopbackHttp
    ? "must use https (http only for a loopback address, as WEBHOOK_ALLOW_LOOPBACK_HTTP allows here)"
    : "must use https";
  if (url.protocol !== "https:" && !(url.protocol === "http:" && policy.allowLoopbackHttp)) return refuse(httpsRule);
  if (url.username !== "" || url.password !== "") return refuse("must not hold a user name or password");
  // WHATWG URL parsing has already turned odd IPv4 forms (`0x7f.1`, `2130706433`) into dotted quads.
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  let addresses: ResolvedAddress[];
  if (ipaddr.isValid(host)) addresses = [{ address: host, family: ipaddr.parse(host).kind() === "ipv6" ? 6 : 4 }];
  else {
    const found = await resolveWithin(policy.resolve ?? dnsResolver, host);
    // Over http only a loopback host may pass, and a name that doesn't resolve is none: say the rule.
    if (typeof found === "string") return refuse(url.protocol === "http:" ? httpsRule : found);
    addresses = found;
  }
  for (const a of addresses) {
    const range = nonPublicRange(a.address);
    if (range === undefined || (range === "loopback" && policy.allowLoopbackHttp)) continue;
    const shown = a.address === host ? `its address ${a.address}` : `its host ${host} resolves to ${a.address}`;
    return refuse(`${shown}, a ${range} address: webhooks may only reach public addresses`);
  }
  if (url.protocol === "http:" && !addresses.every((a) => nonPublicRange(a.address) === "loopback"))
    return refuse(httpsRule);
  return { ok: true, url, pinned: addresses[0]!, addresses };
}

/** The guard with its policy bound, as `Capabilities.checkWebhookTarget`. */
export function webhookTargetGuard(policy: WebhookTargetPolicy): CheckWebhookTarget {
  return (url) => checkWebhookTarget(url, policy);
}

/**
 * A `lookup` for `http.request`/`https.request` (and undici's `connect`) that answers every name
 * with the address the guard checked, so the connection goes where the check looked, whatever DNS
 * says by then. TLS still verifies the certificate against the URL's host name (`servername`).
 */
export function pinnedLookup(pinned: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
    else callback(null, pinned.address, pinned.family);
  };
}
