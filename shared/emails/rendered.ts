/** An email's content as a template renders it; the mailer adds the recipients and the operation id. */
export interface RenderedEmail {
  /** One line, plain text. */
  subject: string;
  plainText: string;
  /** A whole HTML document; every piece of data in it is escaped. */
  html: string;
}
