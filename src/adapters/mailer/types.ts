/** One outgoing mail; the sender is the configured MAIL_FROM. */
export interface Mail {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

/**
 * Sends mail: over SMTP when SMTP_URL is set, otherwise into the log, so a
 * developer without a mail server can still follow the links a mail carries.
 */
export interface Mailer {
  readonly kind: 'smtp' | 'log';
  /** Resolves once the mail is handed over (accepted by the SMTP server, or written to the log); rejects otherwise. */
  send(mail: Mail): Promise<void>;
  close(): Promise<void>;
}

/** The part of a pino logger the mailers write to. */
export interface MailLogger {
  warn(object: object, message: string): void;
}
