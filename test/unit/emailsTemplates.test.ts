import { describe, expect, it } from "vitest";
import { escapeHtml, oneLine, safeHref } from "../../shared/emails/html.js";
import { renderInvitationEmail, type InvitationEmailInput } from "../../shared/emails/invitation.js";
import { renderOwnerAlertEmail } from "../../shared/emails/ownerAlert.js";
import { grantableRoles, resourceKinds } from "../../shared/rules/matrix.js";

const link = "https://sharing.example.test/api/invitations/eyJhbGciOiJIUzI1NiJ9.eyJpbnYiOiJpMSJ9.c2lnbmF0dXJl";
const base: InvitationEmailInput = {
  kind: "processMining",
  role: "viewer",
  resourceName: "Invoice processing",
  sharerName: "Megan Maker",
  recipientName: "Gina Guest",
  link,
  expiresAt: "2026-03-15T09:30:00Z",
};

const hostile = `<script>window.pwned=1</script><img src=x onerror="alert(1)">'"&`;

/** Every tag in an HTML document, by name. */
const tags = (html: string) => [...html.matchAll(/<([a-zA-Z][a-zA-Z0-9]*)\b/g)].map((m) => m[1]!.toLowerCase());

// One row per grantable kind × role: what the rules say the invitation asks of the invitee.
const wording: [InvitationEmailInput["kind"], InvitationEmailInput["role"], RegExp, RegExp][] = [
  ["processMining", "viewer", /analytics/i, /View the analytics/],
  ["processMining", "coOwner", /help manage/i, /Open the process/],
  ["taskMining", "coOwner", /help manage/i, /Open the process/],
  ["taskMining", "contributor", /add recordings/i, /Add recordings/],
  ["cloudFlow", "owner", /as an owner/i, /Open the flow/],
  ["cloudFlow", "runOnly", /run-only user/i, /Open the flow/],
];

describe("invitation emails", () => {
  it("covers every grantable role of every kind", () => {
    const covered = wording.map(([k, r]) => `${k}.${r}`).sort();
    const grantable = resourceKinds.flatMap((k) => grantableRoles[k].map((r) => `${k}.${r}`)).sort();
    expect(covered).toEqual(grantable);
  });

  it.each(wording)(
    "%s %s: says what the role is invited to do, in subject, text and HTML, with the link",
    (kind, role, ask, button) => {
      const email = renderInvitationEmail({ ...base, kind, role });
      expect(email.subject).toContain("Megan Maker");
      expect(email.subject).toContain('"Invoice processing"');
      expect(email.plainText).toMatch(ask);
      expect(email.html).toMatch(ask);
      expect(email.plainText).toMatch(button);
      expect(email.html).toMatch(button);
      expect(email.plainText).toContain(link);
      expect(email.html).toContain(`href="${link}"`);
      expect(email.plainText).toContain("15 March 2026");
      expect(email.plainText).toContain("Hello Gina Guest,");
      expect(email.subject).not.toMatch(/[\r\n]/);
    },
  );

  it("invites viewers to the analytics, or to the details while analytics aren't ready", () => {
    expect(renderInvitationEmail({ ...base, analyticsReady: true }).plainText).toContain("View the analytics:");
    const pending = renderInvitationEmail({ ...base, analyticsReady: false });
    expect(pending.plainText).toContain("View the process:");
    expect(pending.plainText).toContain("haven't been generated yet");
  });

  it("quotes the personal message, keeping its lines", () => {
    const email = renderInvitationEmail({ ...base, message: "Hi Gina,\nplease look at Q3." });
    expect(email.plainText).toContain("Megan Maker wrote:\n> Hi Gina,\n> please look at Q3.");
    expect(email.html).toContain("<blockquote");
    expect(email.html).toContain("Hi Gina,\nplease look at Q3.");
    expect(renderInvitationEmail({ ...base, message: "   " }).plainText).not.toContain("wrote:");
  });

  it("escapes the sharer's name, the message, the resource and the invitee, so no markup of theirs survives", () => {
    const email = renderInvitationEmail({
      ...base,
      sharerName: hostile,
      message: hostile,
      resourceName: hostile,
      recipientName: hostile,
    });
    expect(email.html).not.toContain("<script");
    expect(email.html).not.toContain("<img");
    expect(email.html).not.toMatch(/<[a-z][^<>]*\son[a-z]+=/i);
    expect(email.html).toContain("&lt;script&gt;window.pwned=1&lt;/script&gt;");
    // The only tags are the template's own.
    expect(new Set(tags(email.html))).toEqual(
      new Set(["html", "head", "meta", "title", "body", "div", "p", "blockquote", "a", "span"]),
    );
    // Plain text is not HTML: it carries the text as typed.
    expect(email.plainText).toContain("<script>window.pwned=1</script>");
  });

  it("keeps the subject on one line whatever the names hold", () => {
    const email = renderInvitationEmail({
      ...base,
      sharerName: "Eve\r\nBcc: victim@example.test",
      resourceName: "A\u2028B",
    });
    expect(email.subject).not.toMatch(/[\r\n\u2028]/);
    expect(email.subject).toContain("Eve Bcc: victim@example.test");
  });

  it("refuses to build a link that isn't http(s)", () => {
    expect(() => renderInvitationEmail({ ...base, link: "javascript:alert(1)" })).toThrow();
    expect(safeHref("https://a.example/x?y=1&z=2")).toBe("https://a.example/x?y=1&amp;z=2");
  });
});

describe("owner alerts", () => {
  const alert = {
    environmentName: "Contoso (sensitive)",
    resource: { name: "Invoice processing", kind: "processMining" as const },
    resourceId: "p1",
    principalLabel: "Gina Guest (gina@fabrikam.example, guest)",
    role: "coOwner" as const,
    actorName: "Megan Maker",
    at: "2026-03-01T08:00:00Z",
    link: "https://app.example.test/environments/e1/resources/p1/sharing",
  };

  it("names who was made what, by whom, where, with a link to review", () => {
    const email = renderOwnerAlertEmail(alert);
    expect(email.subject).toBe(
      '[Contoso (sensitive)] Gina Guest (gina@fabrikam.example, guest) was made a co-owner of the process mining process "Invoice processing"',
    );
    expect(email.plainText).toContain("Megan Maker made Gina Guest");
    expect(email.plainText).toContain("sensitive environment");
    expect(email.plainText).toContain(alert.link);
    expect(email.html).toContain(`href="${alert.link}"`);
  });

  it("still alerts when the resource is gone, and escapes every name", () => {
    const email = renderOwnerAlertEmail({
      ...alert,
      resource: undefined,
      actorName: hostile,
      principalLabel: hostile,
      environmentName: hostile,
    });
    expect(email.subject).toContain("resource p1 (since deleted)");
    expect(email.html).not.toContain("<script");
    expect(email.html).not.toContain("<img");
  });
});

describe("text helpers", () => {
  it("escapes the five characters that matter in content and attributes", () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
    );
  });
  it("cuts long lines", () => {
    expect(oneLine("x".repeat(300), 10)).toBe(`${"x".repeat(9)}…`);
  });
});
