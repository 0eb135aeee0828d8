import { createHash, createHmac, randomBytes, randomUUID } from "node:crypto";
import { EmailClient, type EmailMessage } from "@azure/communication-email";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startMailSink, type MailSink } from "../../tools/mailSink.js";

// The sink is driven by the real SDK client where the SDK can say it, and by hand-signed requests
// (signed exactly as @azure/communication-common signs) where a test needs to break one rule at a time.

let sink: MailSink;
beforeAll(async () => {
  sink = await startMailSink();
});
afterAll(async () => {
  await sink.close();
});

const apiVersion = "2025-09-01";
const sinkMessageSchema = z.object({
  operationId: z.string(),
  receivedAt: z.string(),
  from: z.string(),
  to: z.array(z.string()),
  subject: z.string(),
  plainText: z.string(),
  html: z.string(),
  attempts: z.number(),
});
const acsErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

function uniqueAddress(): string {
  return `user-${randomUUID()}@example.test`;
}

function emailMessage(overrides: Partial<EmailMessage> = {}): EmailMessage {
  return {
    senderAddress: "noreply@sharing.example.test",
    content: { subject: "Hello", plainText: "Hi there", html: "<p>Hi there</p>" },
    recipients: { to: [{ address: uniqueAddress() }] },
    ...overrides,
  };
}

interface SignedRequest {
  method: "GET" | "POST";
  path: string;
  body?: string;
  operationId?: string;
  /** Sign this body instead of the one sent, to tamper after signing. */
  signBody?: string;
  date?: Date;
  key?: string;
}

/** Sends a request signed the way the SDK's createCommunicationAccessKeyCredentialPolicy signs. */
async function signedFetch(req: SignedRequest): Promise<Response> {
  const url = new URL(req.path, sink.url);
  const body = req.body ?? "";
  const signedBody = req.signBody ?? body;
  const date = (req.date ?? new Date()).toUTCString();
  const hash = createHash("sha256").update(signedBody).digest("base64");
  const query = url.searchParams.toString();
  const stringToSign = `${req.method}\n${query ? `${url.pathname}?${query}` : url.pathname}\n${date};${url.host};${hash}`;
  const signature = createHmac("sha256", Buffer.from(req.key ?? sink.accessKey, "base64"))
    .update(stringToSign)
    .digest("base64");
  return fetch(url, {
    method: req.method,
    headers: {
      "content-type": "application/json",
      "x-ms-date": date,
      "x-ms-content-sha256": hash,
      authorization: `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${signature}`,
      ...(req.operationId ? { "operation-id": req.operationId } : {}),
    },
    ...(req.method === "POST" ? { body } : {}),
  });
}

function postSend(body: unknown, options: Partial<SignedRequest> = {}): Promise<Response> {
  return signedFetch({
    method: "POST",
    path: `/emails:send?api-version=${apiVersion}`,
    body: JSON.stringify(body),
    operationId: randomUUID(),
    ...options,
  });
}

async function htmlOf(path: string): Promise<{ status: number; html: string; csp: string | null }> {
  const res = await fetch(new URL(path, sink.url));
  return { status: res.status, html: await res.text(), csp: res.headers.get("content-security-policy") };
}

function messageFor(operationId: string) {
  return sink.messages().find((m) => m.operationId === operationId);
}

describe("ACS email API", () => {
  it("accepts a send from the real SDK client and stores every field", async () => {
    const client = new EmailClient(sink.connectionString, { allowInsecureConnection: true });
    const operationId = randomUUID();
    const to = uniqueAddress();
    const poller = await client.beginSend(
      emailMessage({
        recipients: { to: [{ address: to, displayName: "Ada" }] },
        content: { subject: "Shared with you", plainText: "plain body", html: "<b>html body</b>" },
      }),
      { operationId, updateIntervalInMs: 10 },
    );
    const result = await poller.pollUntilDone();

    expect(result).toMatchObject({ id: operationId, status: "Succeeded" });
    const stored = messageFor(operationId);
    expect(stored).toMatchObject({
      operationId,
      from: "noreply@sharing.example.test",
      to: [to],
      subject: "Shared with you",
      plainText: "plain body",
      html: "<b>html body</b>",
      attempts: 1,
    });
    expect(Date.parse(stored?.receivedAt ?? "")).not.toBeNaN();
  });

  it("answers 202 with an Operation-Location to poll and Retry-After", async () => {
    const operationId = randomUUID();
    const res = await postSend(emailMessage(), { operationId });

    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ id: operationId, status: "Running" });
    expect(res.headers.get("retry-after")).toBe("0");
    const location = res.headers.get("operation-location") ?? "";
    expect(location).toBe(`${sink.url}/emails/operations/${operationId}?api-version=${apiVersion}`);

    const poll = await signedFetch({ method: "GET", path: location });
    expect(poll.status).toBe(200);
    expect(await poll.json()).toEqual({ id: operationId, status: "Succeeded" });
  });

  it("refuses a client holding the wrong access key with 401 and an ACS error body", async () => {
    const wrongKey = randomBytes(32).toString("base64");
    const client = new EmailClient(`endpoint=${sink.url}/;accesskey=${wrongKey}`, { allowInsecureConnection: true });
    const operationId = randomUUID();

    const error: unknown = await client.beginSend(emailMessage(), { operationId }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ name: "RestError", statusCode: 401, code: "Unauthorized" });
    expect(messageFor(operationId)).toBeUndefined();

    const raw = await postSend(emailMessage(), { key: wrongKey });
    expect(raw.status).toBe(401);
    expect(raw.headers.get("x-ms-error-code")).toBe("Unauthorized");
    expect(acsErrorSchema.safeParse(await raw.json()).success).toBe(true);
  });

  it("refuses a body changed after signing, whether or not the hash header was updated", async () => {
    const signed = emailMessage();
    const tampered = { ...signed, recipients: { to: [{ address: "attacker@example.test" }] } };
    const operationId = randomUUID();

    // Hash and signature are for the original body: the hash check catches it.
    const stale = await postSend(tampered, { operationId, signBody: JSON.stringify(signed) });
    expect(stale.status).toBe(401);
    expect(acsErrorSchema.parse(await stale.json()).error.message).toMatch(/x-ms-content-sha256/);

    // A re-computed hash no longer matches what was signed: the signature check catches it.
    const url = new URL(`/emails:send?api-version=${apiVersion}`, sink.url);
    const good = await postSend(signed, { operationId: randomUUID() });
    expect(good.status).toBe(202);
    const body = JSON.stringify(tampered);
    const date = new Date().toUTCString();
    const signedHash = createHash("sha256").update(JSON.stringify(signed)).digest("base64");
    const stringToSign = `POST\n${url.pathname}?${url.searchParams.toString()}\n${date};${url.host};${signedHash}`;
    const signature = createHmac("sha256", Buffer.from(sink.accessKey, "base64")).update(stringToSign).digest("base64");
    const rehashed = await fetch(url, {
      method: "POST",
      body,
      headers: {
        "content-type": "application/json",
        "operation-id": operationId,
        "x-ms-date": date,
        "x-ms-content-sha256": createHash("sha256").update(body).digest("base64"),
        authorization: `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${signature}`,
      },
    });
    expect(rehashed.status).toBe(401);
    expect(acsErrorSchema.parse(await rehashed.json()).error.message).toMatch(/signature/);
    expect(messageFor(operationId)).toBeUndefined();
  });

  it("refuses a body tampered with after the real SDK signed it", async () => {
    const operationId = randomUUID();
    const client = new EmailClient(sink.connectionString, {
      allowInsecureConnection: true,
      // perRetry policies run after the SDK's signing policy, like a proxy rewriting the request.
      additionalPolicies: [
        {
          position: "perRetry",
          policy: {
            name: "tamper",
            sendRequest: (request, next) => {
              if (typeof request.body === "string") request.body = request.body.replace("Hello", "Hallo");
              return next(request);
            },
          },
        },
      ],
    });
    await expect(client.beginSend(emailMessage(), { operationId })).rejects.toMatchObject({ statusCode: 401 });
    expect(sink.attempts(operationId)).toBe(0);
  });

  it("refuses a signature dated more than 15 minutes off, and a missing one", async () => {
    const old = await postSend(emailMessage(), { date: new Date(Date.now() - 16 * 60 * 1000) });
    expect(old.status).toBe(401);
    expect(acsErrorSchema.parse(await old.json()).error.message).toMatch(/x-ms-date/);

    const unsigned = await fetch(new URL(`/emails:send?api-version=${apiVersion}`, sink.url), {
      method: "POST",
      headers: { "content-type": "application/json", "operation-id": randomUUID() },
      body: JSON.stringify(emailMessage()),
    });
    expect(unsigned.status).toBe(401);
  });

  it("requires a GUID Operation-Id", async () => {
    const missing = await signedFetch({
      method: "POST",
      path: `/emails:send?api-version=${apiVersion}`,
      body: JSON.stringify(emailMessage()),
    });
    expect(missing.status).toBe(400);
    expect(acsErrorSchema.parse(await missing.json()).error.code).toBe("InvalidOperationId");

    const notGuid = await postSend(emailMessage(), { operationId: "not-a-guid" });
    expect(notGuid.status).toBe(400);
  });

  it.each([
    ["no recipients", { recipients: { to: [] } }, "recipients.to"],
    ["no subject", { content: { subject: "", plainText: "x" } }, "content.subject"],
    ["no body at all", { content: { subject: "s" } }, "content.plainText"],
    ["a bad sender", { senderAddress: "nobody" }, "senderAddress"],
  ])("answers 400 naming the field for %s", async (_name, overrides, target) => {
    const operationId = randomUUID();
    const res = await postSend({ ...emailMessage(), ...overrides }, { operationId });

    expect(res.status).toBe(400);
    const body = z
      .object({ error: z.object({ code: z.string(), details: z.array(z.object({ target: z.string() })) }) })
      .parse(await res.json());
    expect(body.error.details.map((d) => d.target)).toContain(target);
    expect(messageFor(operationId)).toBeUndefined();
  });

  it("answers 400 to a body that is not JSON", async () => {
    const res = await signedFetch({
      method: "POST",
      path: `/emails:send?api-version=${apiVersion}`,
      body: "{not json",
      operationId: randomUUID(),
    });
    expect(res.status).toBe(400);
  });

  it("stores a repeated Operation-Id once and counts every POST", async () => {
    const operationId = randomUUID();
    const first = emailMessage();
    expect((await postSend(first, { operationId })).status).toBe(202);
    const again = await postSend({ ...first, content: { subject: "Changed", plainText: "x" } }, { operationId });

    expect(again.status).toBe(202);
    expect(await again.json()).toEqual({ id: operationId, status: "Running" });
    expect(sink.messages().filter((m) => m.operationId === operationId)).toHaveLength(1);
    expect(messageFor(operationId)).toMatchObject({ subject: "Hello", attempts: 2 });
  });

  it("answers injected failures without storing, then recovers", async () => {
    sink.failNext(429, 1);
    sink.failNext(503, 1, 2);
    sink.failNext(500, 1);
    const operationId = randomUUID();

    const throttled = await postSend(emailMessage(), { operationId });
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get("retry-after")).toBe("0");
    expect(acsErrorSchema.parse(await throttled.json()).error.code).toBe("TooManyRequests");
    const unavailable = await postSend(emailMessage(), { operationId });
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get("retry-after")).toBe("2");
    const failed = await postSend(emailMessage(), { operationId });
    expect(failed.status).toBe(500);
    expect(failed.headers.get("retry-after")).toBeNull();
    expect(messageFor(operationId)).toBeUndefined();

    expect((await postSend(emailMessage(), { operationId })).status).toBe(202);
    expect(messageFor(operationId)?.attempts).toBe(4);
  });

  it("lets an injected failure pass over an unauthenticated request", async () => {
    sink.failNext(500, 1);
    const unsigned = await postSend(emailMessage(), { key: randomBytes(32).toString("base64") });
    expect(unsigned.status).toBe(401);
    const operationId = randomUUID();
    expect((await postSend(emailMessage(), { operationId })).status).toBe(500);
    expect((await postSend(emailMessage(), { operationId })).status).toBe(202);
  });

  it("ends an operation Failed when told to, storing nothing", async () => {
    sink.failNextOperations(1);
    const operationId = randomUUID();
    const client = new EmailClient(sink.connectionString, { allowInsecureConnection: true });

    await expect(
      client.beginSend(emailMessage(), { operationId, updateIntervalInMs: 10 }).then((p) => p.pollUntilDone()),
    ).rejects.toThrow(/failed/);
    expect(messageFor(operationId)).toBeUndefined();
  });

  it("signs-checks polls and answers 404 for an unknown operation", async () => {
    const unknown = await signedFetch({
      method: "GET",
      path: `/emails/operations/${randomUUID()}?api-version=${apiVersion}`,
    });
    expect(unknown.status).toBe(404);
    const unsigned = await fetch(new URL(`/emails/operations/${randomUUID()}?api-version=${apiVersion}`, sink.url));
    expect(unsigned.status).toBe(401);
  });
});

describe("message list", () => {
  it("lists messages newest first as JSON, filters by recipient, and clears", async () => {
    const own = await startMailSink();
    try {
      const client = new EmailClient(own.connectionString, { allowInsecureConnection: true });
      const to = uniqueAddress();
      for (const subject of ["first", "second"]) {
        const poller = await client.beginSend(
          emailMessage({ content: { subject, plainText: subject }, recipients: { to: [{ address: to }] } }),
          { operationId: randomUUID() },
        );
        await poller.pollUntilDone();
      }
      await (await client.beginSend(emailMessage(), { operationId: randomUUID() })).pollUntilDone();

      const all = z.array(sinkMessageSchema).parse(await (await fetch(`${own.url}/messages`)).json());
      expect(all.map((m) => m.subject)).toEqual(["Hello", "second", "first"]);
      const mine = z
        .array(sinkMessageSchema)
        .parse(await (await fetch(`${own.url}/messages?to=${encodeURIComponent(to.toUpperCase())}`)).json());
      expect(mine.map((m) => m.subject)).toEqual(["second", "first"]);

      expect((await fetch(`${own.url}/messages`, { method: "DELETE" })).status).toBe(204);
      expect(own.messages()).toEqual([]);
      expect(await (await fetch(`${own.url}/messages`)).json()).toEqual([]);
    } finally {
      await own.close();
    }
  });
});

describe("pages", () => {
  it("escapes a hostile subject and recipient on the index", async () => {
    const operationId = randomUUID();
    const res = await postSend(
      emailMessage({
        content: { subject: `<script>alert("x")</script> & "quotes"`, plainText: "x" },
        recipients: { to: [{ address: `o'brien@example.test` }] },
      }),
      { operationId },
    );
    expect(res.status).toBe(202);

    const { status, html, csp } = await htmlOf("/");
    expect(status).toBe(200);
    expect(html).not.toContain("<script");
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;quotes&quot;");
    expect(html).toContain("o&#39;brien@example.test");
    expect(html).toContain(`href="/messages/${operationId}"`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/script-src/);
  });

  it("shows the HTML body only inside a sandboxed srcdoc iframe, links opening in the top window", async () => {
    const operationId = randomUUID();
    const invitation = "http://127.0.0.1:7071/api/invitations/tok?a=1&b=2";
    const mailHtml = `<p onclick="steal()">Open</p><script>alert('owned')</script><a href="${invitation.replace("&", "&amp;")}">Accept</a>`;
    await postSend(
      emailMessage({ content: { subject: "Invite", plainText: `Accept: ${invitation}.`, html: mailHtml } }),
      {
        operationId,
      },
    );

    const { status, html, csp } = await htmlOf(`/messages/${operationId}`);
    expect(status).toBe(200);
    expect(csp).toContain("default-src 'none'");
    // Nothing of the mail is live markup on the sink's page itself: outside the (escaped) srcdoc
    // attribute there is no trace of its script or handler.
    const outsideSrcdoc = html.replace(/\ssrcdoc="[^"]*"/, "");
    expect(outsideSrcdoc).not.toContain("<script");
    expect(outsideSrcdoc).not.toContain("onclick");

    const iframes = [...html.matchAll(/<iframe\b[^>]*>/g)].map((m) => m[0]);
    expect(iframes).toHaveLength(1);
    const iframe = iframes[0] ?? "";
    const sandbox = /\ssandbox="([^"]*)"/.exec(iframe)?.[1]?.split(" ") ?? [];
    expect(sandbox.sort()).toEqual([
      "allow-popups",
      "allow-popups-to-escape-sandbox",
      "allow-top-navigation-by-user-activation",
    ]);
    expect(sandbox).not.toContain("allow-scripts");
    expect(sandbox).not.toContain("allow-same-origin");

    // The attribute decodes back to exactly the mail, behind a base that sends links to the top window.
    const srcdoc = /\ssrcdoc="([^"]*)"/.exec(iframe)?.[1] ?? "";
    expect(srcdoc).not.toMatch(/[<>'"]/);
    const decoded = srcdoc
      .replaceAll("&quot;", '"')
      .replaceAll("&#39;", "'")
      .replaceAll("&lt;", "<")
      .replaceAll("&gt;", ">")
      .replaceAll("&amp;", "&");
    expect(decoded).toBe(`<base target="_top">${mailHtml}`);

    // The link appears once (HTML href decoded, plain-text copy deduplicated, trailing dot dropped).
    const links = [...html.matchAll(/<a data-testid="email-link" href="([^"]*)"/g)].map((m) => m[1]);
    expect(links).toEqual([invitation.replace("&", "&amp;")]);
    expect(html).toContain(`<pre data-testid="plain-text">Accept: ${invitation.replace("&", "&amp;")}.</pre>`);
  });

  it("never makes a javascript: link clickable", async () => {
    const operationId = randomUUID();
    await postSend(
      emailMessage({
        content: {
          subject: "js",
          html: `<a href=" javascript:alert(1)">x</a><a href="java&#9;script:alert(2)">y</a><a href='https://ok.example/'>ok</a>`,
        },
      }),
      { operationId },
    );
    const { html } = await htmlOf(`/messages/${operationId}`);
    const links = [...html.matchAll(/<a data-testid="email-link" href="([^"]*)"/g)].map((m) => m[1]);
    expect(links).toEqual(["https://ok.example/"]);
    expect(html).toContain("<code>javascript:alert(1)</code> (not a web link)");
    expect(html).toContain("<code>java\tscript:alert(2)</code> (not a web link)");
  });

  it("answers 404 for an unknown message page", async () => {
    expect((await htmlOf(`/messages/${randomUUID()}`)).status).toBe(404);
  });

  it("stands in for the product at /app/*, escaping the path", async () => {
    const ok = await htmlOf("/app/environments/env-1/resources/proc-42/analytics?from=invitation");
    expect(ok.status).toBe(200);
    expect(ok.html).toContain(`<p data-testid="app-view">Process analytics for resource proc-42</p>`);
    expect(ok.html).toContain(
      `<code data-testid="app-path">/app/environments/env-1/resources/proc-42/analytics</code>`,
    );

    const hostile = await htmlOf(`/app/resources/${encodeURIComponent("<img src=x onerror=alert(1)>")}/details`);
    expect(hostile.status).toBe(200);
    expect(hostile.html).not.toContain("<img");
    expect(hostile.html).toContain("Details for resource &lt;img src=x onerror=alert(1)&gt;");
  });
});
