import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailer, type Mailer } from '../../src/adapters/mailer/index.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { REFUSED_PREFIX, type SmtpInbox, startSmtp } from '../helpers/smtp.js';

const FROM = 'Switchboard Test <no-reply@switchboard.test>';

/** What a mail looks like on arrival, whichever way it travelled. */
interface Arrived {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string | undefined;
}

interface Harness {
  mailer: Mailer;
  /** The next mail that arrived. */
  received(): Promise<Arrived>;
  close(): Promise<void>;
}

/** Every implementation, started with what lets the test see what it delivered. */
const implementations: Array<[name: string, start: () => Promise<Harness>]> = [
  [
    'smtp',
    async () => {
      const inbox = await startSmtp();
      const mailer = createMailer({ mail: { smtpUrl: inbox.url, from: FROM } }, failOnLog);
      return {
        mailer,
        async received() {
          const mail = await inbox.next();
          return { from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html };
        },
        async close() {
          await mailer.close();
          await inbox.close();
        },
      };
    },
  ],
  [
    'log',
    async () => {
      // A real pino logger (Fastify's), its JSON lines captured.
      const lines: Array<Record<string, any>> = [];
      const logger = Fastify({
        logger: { level: 'info', stream: { write: (line: string) => lines.push(JSON.parse(line)) } },
      }).log;
      const mailer = createMailer({ mail: { smtpUrl: null, from: FROM } }, logger);
      return {
        mailer,
        async received() {
          const line = lines.shift();
          if (!line) throw new Error('nothing was logged');
          expect(line.level).toBe(40); // warn
          expect(line.msg).toContain(line.mail.to);
          return {
            from: line.mail.from,
            to: line.mail.to,
            subject: line.mail.subject,
            text: line.mail.text,
            html: line.mail.html,
          };
        },
        close: () => mailer.close(),
      };
    },
  ],
];

const failOnLog = {
  warn: (object: object, message: string) => {
    throw new Error(`the SMTP mailer logged: ${message} ${JSON.stringify(object)}`);
  },
};

describe.each(implementations)('mailer contract (%s)', (kind, start) => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await start();
  });
  afterAll(() => harness?.close());

  it('says which kind it is', () => {
    expect(harness.mailer.kind).toBe(kind);
  });

  it('delivers recipient, subject and the whole text, with the configured sender', async () => {
    const link = `https://api.example.com:8443/password/reset/${'0123456789abcdef'.repeat(3)}`;
    const text = `Hello Zoë,\n\nOpen this link (longer than a mail line) to go on:\n\n${link}\n\nGrüße, l'équipe = 100%\n`;
    await harness.mailer.send({ to: 'zoe@example.com', subject: 'Réinitialiser: your password', text });
    const mail = await harness.received();
    expect(mail.to).toBe('zoe@example.com');
    expect(mail.from).toContain('no-reply@switchboard.test');
    expect(mail.subject).toBe('Réinitialiser: your password');
    expect(mail.text.trim()).toBe(text.trim());
    expect(mail.text).toContain(link);
    expect(mail.html).toBeUndefined();
  });

  it('delivers an HTML part when given one', async () => {
    await harness.mailer.send({ to: 'ann@example.com', subject: 'Both', text: 'plain words', html: '<p>rich <b>words</b></p>' });
    const mail = await harness.received();
    expect(mail.text.trim()).toBe('plain words');
    expect(mail.html).toContain('<p>rich <b>words</b></p>');
  });

  it('keeps a subject on one line, whatever a template says', async () => {
    await harness.mailer.send({ to: 'ann@example.com', subject: 'Line one\r\nBcc: victim@example.com', text: 'x' });
    const mail = await harness.received();
    expect(mail.subject).toBe('Line one Bcc: victim@example.com');
    expect(mail.to).toBe('ann@example.com');
  });

  it('sends one mail after another', async () => {
    for (const n of [1, 2, 3]) await harness.mailer.send({ to: `n${n}@example.com`, subject: `#${n}`, text: `body ${n}` });
    for (const n of [1, 2, 3]) expect(await harness.received()).toMatchObject({ to: `n${n}@example.com`, subject: `#${n}` });
  });
});

describe('SMTP mailer failures and credentials', () => {
  let inbox: SmtpInbox;
  beforeAll(async () => {
    inbox = await startSmtp();
  });
  afterAll(() => inbox?.close());

  it('rejects when the server refuses the recipient', async () => {
    const mailer = createMailer({ mail: { smtpUrl: inbox.url, from: FROM } }, failOnLog);
    await expect(mailer.send({ to: `${REFUSED_PREFIX}@example.com`, subject: 's', text: 't' })).rejects.toThrow();
    await mailer.close();
  });

  it('rejects when no server listens', async () => {
    const closed = await startSmtp();
    await closed.close();
    const mailer = createMailer({ mail: { smtpUrl: closed.url, from: FROM } }, failOnLog);
    await expect(mailer.send({ to: 'a@example.com', subject: 's', text: 't' })).rejects.toThrow();
    await mailer.close();
  });

  it('logs in with the user and password of SMTP_URL', async () => {
    const url = new URL(inbox.url);
    url.username = 'mailer';
    url.password = 's3cret/+';
    const mailer = createMailer({ mail: { smtpUrl: url.toString(), from: FROM } }, failOnLog);
    await mailer.send({ to: 'auth@example.com', subject: 'with auth', text: 't' });
    const mail = await inbox.next();
    expect(mail.user).toBe('mailer');
    expect(mail.envelope).toEqual({ from: 'no-reply@switchboard.test', to: ['auth@example.com'] });
    await mailer.close();
  });
});

describe('mail configuration', () => {
  const load = (env: Record<string, string>) => loadConfig(env, '/tmp');
  const settingOf = (env: Record<string, string>) => {
    try {
      load(env);
    } catch (error) {
      if (error instanceof ConfigError) return { setting: error.setting, message: error.message };
      throw error;
    }
    throw new Error('accepted');
  };

  it('sends to the log unless SMTP_URL is set, from no-reply at the public host', () => {
    expect(load({}).mail).toEqual({ smtpUrl: null, from: 'Switchboard <no-reply@localhost>' });
    expect(load({ PUBLIC_HOST: 'chat.example.com' }).mail.from).toBe('Switchboard <no-reply@chat.example.com>');
    expect(load({ MAIL_FROM: 'Acme <hello@acme.test>' }).mail.from).toBe('Acme <hello@acme.test>');
    expect(load({ MAIL_FROM: 'hello@acme.test' }).mail.from).toBe('hello@acme.test');
    expect(load({ SMTP_URL: 'smtp://mail.example.com:587' }).mail.smtpUrl).toBe('smtp://mail.example.com:587');
    expect(load({ SMTP_URL: 'smtps://u:p@mail.example.com' }).mail.smtpUrl).toBe('smtps://u:p@mail.example.com');
  });

  it('names the setting in its errors, without echoing a password', () => {
    for (const bad of ['http://mail.example.com', 'mail.example.com', 'smtp://', 'smtp:mail']) {
      expect(settingOf({ SMTP_URL: bad }).setting, bad).toBe('SMTP_URL');
    }
    expect(settingOf({ SMTP_URL: 'https://user:hunter2@mail.example.com' }).message).not.toContain('hunter2');
    for (const bad of ['nobody', 'Acme <>', 'a@b\r\nBcc: c@d', 'Acme <hello at acme>']) {
      expect(settingOf({ MAIL_FROM: bad }).setting, bad).toBe('MAIL_FROM');
    }
  });
});
