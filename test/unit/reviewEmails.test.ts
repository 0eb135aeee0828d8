import { describe, expect, it } from "vitest";
import {
  renderReviewRequestEmail,
  renderReviewSummaryEmail,
  type ReviewRequestInput,
  type ReviewSummaryInput,
} from "../../shared/emails/reviews.js";

const link = "https://sharing.example.test/api/review-pages/eyJhbGciOiJIUzI1NiJ9.eyJyZXYiOiJ1LmEifQ.c2ln";
const hostile = `<script>window.pwned=1</script><img src=x onerror="alert(1)">'"&`;

const request: ReviewRequestInput = {
  environmentName: "Contoso",
  reviewName: "Quarterly guest review",
  reviewerName: "Olga Owner",
  items: 3,
  deadline: "2026-03-15T09:30:00Z",
  link,
  step: "start",
  defaultDecision: "deny",
  justificationRequired: true,
};

const summary: ReviewSummaryInput = {
  environmentName: "Contoso",
  reviewName: "Quarterly guest review",
  instanceId: "i1",
  createdAt: "2026-03-01T09:30:00Z",
  completedAt: "2026-03-15T09:30:00Z",
  counts: { items: 10, approve: 5, deny: 4, dontKnow: 1, undecided: 0 },
  defaulted: 2,
  defaultDecision: "deny",
  link: "https://sharing.example.test/api/environments/e1/reviews/r1/instances/i1",
};

describe("review request emails", () => {
  it("names the review, the count, the deadline and the default, with the personal link", () => {
    const email = renderReviewRequestEmail(request);
    expect(email.subject).toBe('[Contoso] Please review who has access: "Quarterly guest review"');
    expect(email.plainText).toContain("Hello Olga Owner,");
    expect(email.plainText).toContain("You review 3 grants");
    expect(email.plainText).toContain("Decide by 15 March 2026, 09:30 UTC");
    expect(email.plainText).toContain("denied automatically");
    expect(email.plainText).toContain("needs a short justification");
    expect(email.plainText).toContain(`Review access: ${link}`);
    expect(email.html).toContain(`href="${link}"`);
  });

  it("reminds with what is still undecided, in one line whatever the count", () => {
    const one = renderReviewRequestEmail({ ...request, step: "reminder", items: 1, defaultDecision: "none" });
    expect(one.subject).toBe(
      '[Contoso] Reminder: 1 grant still to review in "Quarterly guest review" by 15 March 2026, 09:30 UTC',
    );
    expect(one.plainText).toContain("1 grant you review is still undecided");
    expect(one.plainText).toContain("stay as they are, undecided");
    const many = renderReviewRequestEmail({ ...request, step: "reminder", items: 1000, moreItems: true });
    expect(many.subject).toContain("more than 1,000 grants still to review");
    expect(many.plainText).toContain("more than 1,000 grants you review are still undecided");
  });

  it("escapes every name and keeps the subject on one line", () => {
    const email = renderReviewRequestEmail({
      ...request,
      environmentName: `${hostile}\r\nBcc: x@y`,
      reviewName: hostile,
      reviewerName: hostile,
    });
    expect(email.subject).not.toMatch(/[\r\n]/);
    expect(email.html).not.toContain("<script");
    expect(email.html).not.toContain("<img");
  });
});

describe("review summary emails", () => {
  it("gives the counts per decision, how many defaulted, and that denials await applying", () => {
    const email = renderReviewSummaryEmail(summary);
    expect(email.subject).toBe('[Contoso] Access review "Quarterly guest review" finished: 4 denied, 5 approved of 10');
    for (const line of ["Grants reviewed: 10", "Approved: 5", "Denied: 4", "Don't know: 1", "Undecided: 0"])
      expect(email.plainText).toContain(line);
    expect(email.plainText).toContain("2 of them nobody decided: they took the default decision (denied).");
    expect(email.plainText).toContain("not applied yet");
    expect(email.plainText).toContain(summary.link);
    expect(email.html).toContain(`href="${summary.link}"`);
  });

  it("gives the apply outcomes when the denials were applied", () => {
    const email = renderReviewSummaryEmail({ ...summary, applied: { applied: 2, alreadyGone: 1, failed: 1 } });
    expect(email.plainText).toContain("2 revoked, 1 already gone, 1 failed.");
    expect(email.plainText).toContain("The failed ones still have their access");
    expect(email.html).toContain("2 revoked, 1 already gone, 1 failed.");
  });

  it("says what stayed undecided without a default, and escapes the names", () => {
    const email = renderReviewSummaryEmail({
      ...summary,
      reviewName: hostile,
      defaultDecision: "none",
      defaulted: 0,
      counts: { ...summary.counts, undecided: 3 },
    });
    expect(email.plainText).toContain("3 stayed undecided");
    expect(email.html).not.toContain("<script");
    expect(email.subject).not.toMatch(/[\r\n]/);
  });
});
