import { createRequire } from 'node:module';
import type Nodemailer from 'nodemailer';
import type { Mail, Mailer } from './types.js';

// Loaded only when SMTP is configured: otherwise it would be idle memory.
const require = createRequire(import.meta.url);

/** Mail over SMTP (nodemailer), one connection per mail: our mails are few and far between. */
export class SmtpMailer implements Mailer {
  readonly kind = 'smtp';
  private readonly transport;

  constructor(url: string, from: string) {
    // Bounded waits: a request that sends a mail should fail in seconds, not the library's minutes.
    const { createTransport } = require('nodemailer') as typeof Nodemailer;
    this.transport = createTransport(
      { url, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 },
      { from },
    );
  }

  async send(mail: Mail): Promise<void> {
    const info = await this.transport.sendMail({
      to: mail.to,
      subject: oneLine(mail.subject),
      text: mail.text,
      ...(mail.html !== undefined ? { html: mail.html } : {}),
    });
    if (info.rejected.length > 0) throw new Error(`the SMTP server refused ${info.rejected.join(', ')}`);
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}

/** Subjects are one header line whatever a template says. */
export function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').trim();
}
