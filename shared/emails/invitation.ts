import type { ResourceKind, Role, RoleOf } from "../rules/matrix.js";
import { buttonLink, emailDocument, escapeHtml, formatDate, oneLine, quotedMessage, quotedText } from "./html.js";
import type { RenderedEmail } from "./rendered.js";

/** What an invitation email is made of; every string is data and is escaped where it lands. */
export interface InvitationEmailInput {
  kind: ResourceKind;
  role: Role;
  resourceName: string;
  /** The sharer's display name (or a stand-in when the sharer is an app). */
  sharerName: string;
  /** The invitee's display name, for the greeting. */
  recipientName?: string | undefined;
  /** The sharer's personal message. */
  message?: string | undefined;
  /** `{PUBLIC_BASE_URL}/api/invitations/{token}`. */
  link: string;
  /** ISO time the link stops working. */
  expiresAt: string;
  /** Process mining: whether analytics exist (the link then leads to them, else to the details). */
  analyticsReady?: boolean | undefined;
}

interface Wording {
  subject: (sharer: string, resource: string) => string;
  /** The first sentence: who gave what. */
  intro: (sharer: string, resource: string) => string;
  /** What the role lets the invitee do, in the words of the rules. */
  what: string;
  button: string;
}

/**
 * Per kind and role, as `sharing-rules.md` describes them: viewers are invited to the analytics,
 * co-owners asked to help manage, contributors to add recordings; flow owners and run-only users
 * are told what they may do. Owners of processes are never invited (that role comes only from
 * creation or reassignment) but are worded anyway, so the table is total.
 */
const wording: { [K in ResourceKind]: Record<RoleOf<K>, Wording> } = {
  processMining: {
    owner: {
      subject: (s, r) => `${s} made you the owner of the process "${r}"`,
      intro: (s, r) => `${s} made you the owner of the process mining process "${r}".`,
      what: "As its owner you can view its analytics, edit its details and dataflow, share it and delete it.",
      button: "Open the process",
    },
    coOwner: {
      subject: (s, r) => `${s} invited you to co-own the process "${r}"`,
      intro: (s, r) =>
        `${s} added you as a co-owner of the process mining process "${r}" and asks you to help manage it.`,
      what: "As a co-owner you can view its analytics, edit its details, and share it with co-owners and viewers.",
      button: "Open the process",
    },
    viewer: {
      subject: (s, r) => `${s} shared the analytics of the process "${r}" with you`,
      intro: (s, r) => `${s} shared the process mining process "${r}" with you as a viewer.`,
      what: "You can view the process analytics and its details.",
      button: "View the analytics",
    },
  },
  taskMining: {
    owner: {
      subject: (s, r) => `${s} made you the owner of the task mining process "${r}"`,
      intro: (s, r) => `${s} made you the owner of the task mining process "${r}".`,
      what: "As its owner you can analyze it, manage its recordings, share it and delete it.",
      button: "Open the process",
    },
    coOwner: {
      subject: (s, r) => `${s} asked you to help manage the task mining process "${r}"`,
      intro: (s, r) => `${s} added you as a co-owner of the task mining process "${r}" and asks you to help manage it.`,
      what: "As a co-owner you can update its name and description, view its process map and analytics, add, label and delete recordings, and add or remove co-owners and contributors.",
      button: "Open the process",
    },
    contributor: {
      subject: (s, r) => `${s} invited you to add recordings to "${r}"`,
      intro: (s, r) =>
        `${s} added you as a contributor to the task mining process "${r}" and asks you to add recordings.`,
      what: "As a contributor you can add recordings of how you do the work, and label or delete your own recordings.",
      button: "Add recordings",
    },
  },
  cloudFlow: {
    owner: {
      subject: (s, r) => `${s} added you as an owner of the flow "${r}"`,
      intro: (s, r) => `${s} added you as an owner of the cloud flow "${r}".`,
      what: "As an owner you can edit the flow, see its run history, start and stop it, update the credentials of your own connections, and add or remove owners and run-only users.",
      button: "Open the flow",
    },
    runOnly: {
      subject: (s, r) => `${s} shared the flow "${r}" with you to run`,
      intro: (s, r) => `${s} added you as a run-only user of the cloud flow "${r}".`,
      what: "You can run the flow; you can't edit it or see its run history. If it uses connections you provide yourself, you'll be asked to sign in to them the first time you run it.",
      button: "Open the flow",
    },
  },
};

function wordingFor(kind: ResourceKind, role: Role): Wording {
  const byRole: Partial<Record<Role, Wording>> = wording[kind];
  const w = byRole[role];
  if (!w) throw new Error(`${kind} resources have no role ${role}`);
  return w;
}

/** The invitation email: subject, plain text and HTML, with the link in both bodies. */
export function renderInvitationEmail(input: InvitationEmailInput): RenderedEmail {
  const w = wordingFor(input.kind, input.role);
  const sharer = oneLine(input.sharerName, 100) || "Someone";
  const resource = oneLine(input.resourceName, 200);
  const greeting = input.recipientName ? `Hello ${oneLine(input.recipientName, 100)},` : "Hello,";
  const pendingAnalytics = input.kind === "processMining" && input.role === "viewer" && input.analyticsReady === false;
  const button = pendingAnalytics ? "View the process" : w.button;
  const note = pendingAnalytics
    ? "Its analytics haven't been generated yet, so the link opens its details for now."
    : undefined;
  const expires = formatDate(input.expiresAt);
  const message = input.message?.trim() ? input.message.trim() : undefined;
  const subject = oneLine(w.subject(sharer, resource), 250);

  const plainText = [
    greeting,
    "",
    w.intro(sharer, resource),
    "",
    w.what,
    ...(note ? ["", note] : []),
    ...(message ? ["", `${sharer} wrote:`, quotedText(message)] : []),
    "",
    `${button}: ${input.link}`,
    "",
    `This link is for you alone and works until ${expires}. If you weren't expecting this invitation, you can ignore this email.`,
    "",
  ].join("\n");

  const html = emailDocument(
    subject,
    [
      `<p>${escapeHtml(greeting)}</p>`,
      `<p>${escapeHtml(w.intro(sharer, resource))}</p>`,
      `<p>${escapeHtml(w.what)}</p>`,
      ...(note ? [`<p>${escapeHtml(note)}</p>`] : []),
      ...(message ? [`<p style="margin-bottom:0;">${escapeHtml(sharer)} wrote:</p>`, quotedMessage(message)] : []),
      buttonLink(input.link, button),
      `<p style="font-size:14px;color:#605e5c;">Or paste this link into your browser: <span style="word-break:break-all;">${escapeHtml(input.link)}</span></p>`,
      `<p style="font-size:14px;color:#605e5c;">This link is for you alone and works until ${escapeHtml(expires)}. If you weren't expecting this invitation, you can ignore this email.</p>`,
    ].join("\n"),
  );
  return { subject, plainText, html };
}
