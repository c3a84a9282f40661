import { oneLine } from './smtp.js';
import type { Mail, Mailer, MailLogger } from './types.js';

/**
 * No SMTP server configured: every mail goes to the log at warn level, whole,
 * so a developer can read it and follow its links; never dropped silently.
 */
export class LogMailer implements Mailer {
  readonly kind = 'log';

  constructor(
    private readonly logger: MailLogger,
    private readonly from: string,
  ) {}

  async send(mail: Mail): Promise<void> {
    this.logger.warn(
      {
        mail: {
          from: this.from,
          to: mail.to,
          subject: oneLine(mail.subject),
          text: mail.text,
          ...(mail.html !== undefined ? { html: mail.html } : {}),
        },
      },
      `mail to ${mail.to} not sent (SMTP_URL is not set); its full text is in this log line`,
    );
  }

  async close(): Promise<void> {}
}
