import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMailSink, type MailSink } from "../../tools/mailSink.js";
import { createAcsEmailSender } from "../../shared/adapters/email/acsEmailSender.js";
import { EmailSendError, type OutgoingEmail } from "../../shared/ports/email.js";

// The adapter against the local sink over loopback, with the real @azure/communication-email client.
// Where a test only needs the SDK to retry quickly, it shortens the SDK's retry delay; the defaults
// (3 retries, 1 s exponential) are exercised once, in "gets through the SDK's own retries of a 500".

let sink: MailSink;
beforeAll(async () => {
  sink = await startMailSink();
});
afterAll(async () => {
  await sink.close();
});

const senderAddress = "noreply@sharing.example.test";
const fastRetry = { retryDelayInMs: 5, maxRetryDelayInMs: 20 };

function outgoing(overrides: Partial<OutgoingEmail> = {}): OutgoingEmail {
  return {
    operationId: randomUUID(),
    to: [{ address: `user-${randomUUID()}@example.test`, displayName: "Grace Hopper" }],
    subject: "A process was shared with you",
    plainText: "Open it: http://localhost/x",
    html: `<p>Open it: <a href="http://localhost/x">here</a></p>`,
    ...overrides,
  };
}

async function sendError(promise: Promise<unknown>): Promise<EmailSendError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof EmailSendError)) throw new Error(`expected an EmailSendError, got ${String(error)}`);
  return error;
}

function stored(operationId: string) {
  return sink.messages().filter((m) => m.operationId === operationId);
}

describe("createAcsEmailSender against the mail sink", () => {
  it("sends an email that lands in the sink with every field", async () => {
    const sender = createAcsEmailSender({ connectionString: sink.connectionString, senderAddress });
    const email = outgoing({ to: [{ address: "a@example.test", displayName: "A" }, { address: "b@example.test" }] });

    const result = await sender.send(email);

    expect(result).toEqual({ messageId: email.operationId });
    expect(stored(email.operationId)).toEqual([
      {
        operationId: email.operationId,
        receivedAt: expect.any(String),
        from: senderAddress,
        to: ["a@example.test", "b@example.test"],
        subject: email.subject,
        plainText: email.plainText,
        html: email.html,
        attempts: 1,
      },
    ]);
  });

  it("turns a refused access key (401) into a permanent error, without retrying", async () => {
    const wrongKey = randomBytes(32).toString("base64");
    const sender = createAcsEmailSender({
      connectionString: `endpoint=${sink.url}/;accesskey=${wrongKey}`,
      senderAddress,
    });
    const email = outgoing();

    const error = await sendError(sender.send(email));

    expect(error).toMatchObject({ code: "permanent", status: 401 });
    expect(error.cause).toMatchObject({ name: "RestError", statusCode: 401 });
    expect(stored(email.operationId)).toEqual([]);
  });

  it("gets through the SDK's own retries of a 500 with its default policy, same Operation-Id each time", async () => {
    const sender = createAcsEmailSender({ connectionString: sink.connectionString, senderAddress });
    const email = outgoing();
    sink.failNext(500, 2);

    await sender.send(email);

    // Three POSTs carried this Operation-Id: the SDK retried twice on its own, and stored once.
    expect(sink.attempts(email.operationId)).toBe(3);
    expect(stored(email.operationId)).toHaveLength(1);
  });

  it("gives up after the SDK's 3 retries of a 500 with a transient error and nothing stored", async () => {
    const sender = createAcsEmailSender({ connectionString: sink.connectionString, senderAddress, retry: fastRetry });
    const email = outgoing();
    sink.failNext(500, 10);

    const error = await sendError(sender.send(email));

    expect(error).toMatchObject({ code: "transient", status: 500 });
    expect(sink.attempts(email.operationId)).toBe(4);
    expect(stored(email.operationId)).toEqual([]);
    sink.clear(); // drops the 6 injected failures still queued
  });

  it("follows a 429's Retry-After on its own, and reports 429 as transient once retries run out", async () => {
    const sender = createAcsEmailSender({ connectionString: sink.connectionString, senderAddress });
    const recovered = outgoing();
    sink.failNext(429, 3, 0);
    await sender.send(recovered);
    expect(sink.attempts(recovered.operationId)).toBe(4);
    expect(stored(recovered.operationId)).toHaveLength(1);

    const exhausted = outgoing();
    sink.failNext(429, 4, 0);
    const error = await sendError(sender.send(exhausted));
    expect(error).toMatchObject({ code: "transient", status: 429 });
    expect(sink.attempts(exhausted.operationId)).toBe(4);
    expect(stored(exhausted.operationId)).toEqual([]);
  });

  it("reports a 503 as transient", async () => {
    const sender = createAcsEmailSender({
      connectionString: sink.connectionString,
      senderAddress,
      retry: { ...fastRetry, maxRetries: 0 },
    });
    const email = outgoing();
    sink.failNext(503, 1);

    expect(await sendError(sender.send(email))).toMatchObject({ code: "transient", status: 503 });
    expect(sink.attempts(email.operationId)).toBe(1);
  });

  it("stores an email sent twice with the same operationId once", async () => {
    const sender = createAcsEmailSender({ connectionString: sink.connectionString, senderAddress });
    const email = outgoing();

    const first = await sender.send(email);
    const second = await sender.send(email);

    expect(second).toEqual(first);
    expect(stored(email.operationId)).toHaveLength(1);
    expect(stored(email.operationId)[0]?.attempts).toBe(2);
  });

  it("turns a Failed operation into a permanent error", async () => {
    const sender = createAcsEmailSender({ connectionString: sink.connectionString, senderAddress });
    const email = outgoing();
    sink.failNextOperations(1);

    const error = await sendError(sender.send(email));

    expect(error.code).toBe("permanent");
    expect(error.status).toBeUndefined();
    expect(error.message).toMatch(/EmailDroppedAllRecipientsSuppressed/);
    expect(stored(email.operationId)).toEqual([]);
  });

  it("refuses a request the service would refuse (400) as permanent", async () => {
    const sender = createAcsEmailSender({ connectionString: sink.connectionString, senderAddress: "not-an-address" });
    expect(await sendError(sender.send(outgoing()))).toMatchObject({ code: "permanent", status: 400 });
  });

  it("refuses a non-UUID operationId and an empty recipient list before sending", async () => {
    const sender = createAcsEmailSender({ connectionString: sink.connectionString, senderAddress });
    expect(await sendError(sender.send(outgoing({ operationId: "email-1" })))).toMatchObject({ code: "permanent" });
    const noRecipients = outgoing({ to: [] });
    expect(await sendError(sender.send(noRecipients))).toMatchObject({ code: "permanent" });
    expect(sink.attempts(noRecipients.operationId)).toBe(0);
  });
});

describe("createAcsEmailSender when the service does not answer", () => {
  let hung: Server;
  let hungUrl: string;
  beforeAll(async () => {
    // Accepts connections and never responds, like a stalled service.
    hung = createServer(() => undefined);
    await new Promise<void>((resolve) => hung.listen(0, "127.0.0.1", resolve));
    const address = hung.address();
    if (address === null || typeof address === "string") throw new Error("not listening on TCP");
    hungUrl = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    hung.closeAllConnections();
    await new Promise<void>((resolve) => hung.close(() => resolve()));
  });

  it("times out the whole send as a transient error", async () => {
    const sender = createAcsEmailSender({
      connectionString: `endpoint=${hungUrl}/;accesskey=${randomBytes(32).toString("base64")}`,
      senderAddress,
      timeoutMs: 200,
    });
    const started = Date.now();

    const error = await sendError(sender.send(outgoing()));

    expect(error.code).toBe("transient");
    expect(error.message).toMatch(/timed out after 200 ms/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("reports a refused connection as transient after the SDK's retries", async () => {
    const gone = await startMailSink();
    const connectionString = gone.connectionString;
    await gone.close();
    const sender = createAcsEmailSender({ connectionString, senderAddress, retry: fastRetry });

    const error = await sendError(sender.send(outgoing()));

    expect(error.code).toBe("transient");
    expect(error.status).toBeUndefined();
    expect(error.cause).toMatchObject({ name: "RestError", code: "ECONNREFUSED" });
  });
});
