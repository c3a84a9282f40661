import type { Mailer } from '../mailer/types.js';
import type { DeliveryResult, EmailNotification, PushGateway } from './types.js';

/** Email notifications through the Mailer (SMTP, or the log without SMTP_URL). */
export class EmailGateway implements PushGateway<EmailNotification> {
  readonly channel = 'email';

  constructor(private readonly mailer: Mailer) {}

  async send(n: EmailNotification): Promise<DeliveryResult> {
    try {
      await this.mailer.send({ to: n.to, subject: n.subject, text: n.text });
      return { outcome: 'sent' };
    } catch (error) {
      const { message, responseCode } = error as Error & { responseCode?: number };
      // A permanent SMTP refusal (5xx, a refused recipient) will be refused again; anything else may pass later.
      const permanent = (responseCode !== undefined && responseCode >= 500) || /refused/.test(message);
      return permanent ? { outcome: 'failed', reason: message } : { outcome: 'retry', reason: message };
    }
  }

  async close(): Promise<void> {}
}
