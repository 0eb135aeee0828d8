import type { Resolver } from "../../shared/adapters/http/ssrfGuard.js";

/**
 * Names the in-memory tests resolve without the network: a public receiver, one in a private range,
 * one whose name resolves to the cloud metadata address. Any other name does not resolve.
 */
export const testDnsTable: Record<string, readonly string[]> = {
  "hooks.example.com": ["93.184.216.34"],
  "intranet.example.com": ["10.20.30.40"],
  "metadata.example.com": ["169.254.169.254"],
};

export const testDns: Resolver = async (host) => {
  const found = testDnsTable[host];
  if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
  return found.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
};
