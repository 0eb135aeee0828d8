import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import {
  checkWebhookTarget,
  nonPublicRange,
  pinnedLookup,
  type Resolver,
} from "../../shared/adapters/http/ssrfGuard.js";

/** A resolver that answers from a table, as DNS would, without the network. */
const fakeDns =
  (table: Record<string, string[]>): Resolver =>
  async (host) => {
    const found = table[host];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    return found.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };

describe("nonPublicRange", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "linkLocal"],
    ["169.254.0.1", "linkLocal"],
    ["100.64.0.1", "carrierGradeNat"],
    ["100.127.255.255", "carrierGradeNat"],
    ["0.0.0.0", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["192.0.2.10", "reserved"],
    ["198.51.100.7", "reserved"],
    ["203.0.113.9", "reserved"],
    ["198.18.0.1", "reserved"],
    ["240.0.0.1", "reserved"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fc00::1", "uniqueLocal"],
    ["fd12:3456::1", "uniqueLocal"],
    ["fe80::1", "linkLocal"],
    ["ff02::1", "multicast"],
    ["2001:db8::1", "reserved"],
    // IPv4-mapped IPv6 is judged as the IPv4 address it carries, in either spelling.
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:a9fe:a9fe", "linkLocal"],
    ["::ffff:c0a8:0101", "private"],
    // Translation prefixes could lead back to private IPv4: refused.
    ["64:ff9b::a00:1", "rfc6052"],
    ["2002:a00:1::", "6to4"],
    ["not-an-address", "unparseable"],
  ])("%s is %s", (address, range) => {
    expect(nonPublicRange(address)).toBe(range);
  });

  it.each(["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])(
    "%s is public",
    (address) => {
      expect(nonPublicRange(address)).toBeUndefined();
    },
  );
});

describe("checkWebhookTarget", () => {
  const dns = fakeDns({
    "hooks.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "internal.example.com": ["10.0.0.5"],
    "mixed.example.com": ["93.184.216.34", "192.168.0.10"],
    "metadata.example.com": ["169.254.169.254"],
    "mapped.example.com": ["::ffff:10.0.0.1"],
    localhost: ["127.0.0.1", "::1"],
  });
  const strict = { allowLoopbackHttp: false, resolve: dns };
  const local = { allowLoopbackHttp: true, resolve: dns };

  it("allows a public https URL and pins the first address it resolved to", async () => {
    const r = await checkWebhookTarget("https://hooks.example.com/in?x=1", strict);
    expect(r).toMatchObject({ ok: true, pinned: { address: "93.184.216.34", family: 4 } });
    if (r.ok) expect(r.addresses).toHaveLength(2);
  });

  it.each([
    ["http://hooks.example.com/in", /must use https/],
    ["ftp://hooks.example.com/in", /must use https/],
    ["not a url", /absolute URL/],
    ["https://user:pw@hooks.example.com/", /user name or password/],
    ["https://internal.example.com/", /internal\.example\.com resolves to 10\.0\.0\.5, a private address/],
    // One private address among public ones is enough to refuse.
    ["https://mixed.example.com/", /resolves to 192\.168\.0\.10, a private address/],
    ["https://metadata.example.com/", /169\.254\.169\.254, a linkLocal address/],
    ["https://mapped.example.com/", /::ffff:10\.0\.0\.1, a private address/],
    ["https://nowhere.example.com/", /does not resolve/],
    ["https://127.0.0.1/", /its address 127\.0\.0\.1, a loopback address/],
    ["https://[::1]/", /its address ::1, a loopback address/],
    ["https://[::ffff:169.254.169.254]/", /linkLocal/],
    ["https://[fd00::1]/", /uniqueLocal/],
    ["https://169.254.169.254/latest/meta-data", /linkLocal/],
    // Odd IPv4 spellings become dotted quads when the URL is parsed.
    ["https://0x7f.1/", /127\.0\.0\.1, a loopback address/],
    ["https://2130706433/", /127\.0\.0\.1, a loopback address/],
    ["https://localhost/", /resolves to 127\.0\.0\.1, a loopback address/],
  ])("refuses %s without the loopback setting", async (url, reason) => {
    const r = await checkWebhookTarget(url, strict);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it("allows loopback, over http too, only with the setting", async () => {
    expect(await checkWebhookTarget("http://127.0.0.1:8080/hook", local)).toMatchObject({
      ok: true,
      pinned: { address: "127.0.0.1" },
    });
    expect(await checkWebhookTarget("http://[::1]:8080/hook", local)).toMatchObject({ ok: true });
    expect(await checkWebhookTarget("http://localhost:8080/hook", local)).toMatchObject({ ok: true });
    expect(await checkWebhookTarget("http://127.0.0.1:8080/hook", strict)).toMatchObject({ ok: false });
  });

  it("keeps refusing private addresses, and http to public ones, with the setting", async () => {
    for (const url of ["http://10.0.0.1/", "https://internal.example.com/", "http://[fe80::1]/"]) {
      expect(await checkWebhookTarget(url, local)).toMatchObject({ ok: false });
    }
    const r = await checkWebhookTarget("http://hooks.example.com/", local);
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/must use https/) });
    const unresolved = await checkWebhookTarget("http://nowhere.example.com/", local);
    expect(unresolved).toMatchObject({ ok: false, reason: expect.stringMatching(/must use https/) });
  });
});

describe("pinnedLookup", () => {
  it("connects to the checked address whatever the URL's host name resolves to", async () => {
    const server = createServer((_req, res) => res.end(_req.headers.host ?? ""));
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    try {
      const { port } = server.address() as AddressInfo;
      // `rebound.invalid` resolves nowhere; with the pinned lookup the request still reaches 127.0.0.1
      // and keeps the URL's host in the Host header.
      const body = await new Promise<string>((done, fail) => {
        const req = request(
          `http://rebound.invalid:${port}/`,
          { lookup: pinnedLookup({ address: "127.0.0.1", family: 4 }) },
          (res) => {
            let text = "";
            res.on("data", (c: Buffer) => (text += c.toString()));
            res.on("end", () => done(text));
          },
        );
        req.on("error", fail);
        req.end();
      });
      expect(body).toBe(`rebound.invalid:${port}`);
    } finally {
      server.close();
    }
  });
});
