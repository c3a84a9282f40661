import type { Config } from '../../config.js';
import { LogMailer } from './log.js';
import { SmtpMailer } from './smtp.js';
import type { Mailer, MailLogger } from './types.js';

export type { Mail, Mailer, MailLogger } from './types.js';

/** SMTP when SMTP_URL is set, otherwise the log. */
export function createMailer(config: Pick<Config, 'mail'>, logger: MailLogger): Mailer {
  if (config.mail.smtpUrl) return new SmtpMailer(config.mail.smtpUrl, config.mail.from);
  return new LogMailer(logger, config.mail.from);
}
