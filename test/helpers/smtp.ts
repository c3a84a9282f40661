import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  /** The envelope: who the SMTP client said it sends from and to. */
  envelope: { from: string; to: string[] };
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string | undefined;
  /** The user name the client authenticated with, when it did. */
  user: string | undefined;
}

export interface SmtpInbox {
  /** smtp://127.0.0.1:PORT, for SMTP_URL. */
  url: string;
  /** Every mail received so far, oldest first. */
  mails: ReceivedMail[];
  /** The next mail not yet taken: one already received, or the next to arrive. */
  next(): Promise<ReceivedMail>;
  close(): Promise<void>;
}

/** Recipients starting with this are refused, to test failed sends. */
export const REFUSED_PREFIX = 'bounce';

/**
 * A real SMTP server on loopback (smtp-server) that keeps what it receives,
 * parsed by mailparser. A mail is stored before the server answers the
 * client's DATA, so when the sender's send() resolves the mail is here.
 * No STARTTLS (nothing to trust); AUTH is optional and any password works.
 */
export async function startSmtp(): Promise<SmtpInbox> {
  const mails: ReceivedMail[] = [];
  let taken = 0;
  const waiting: Array<() => void> = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username });
    },
    onRcptTo(address, _session, callback) {
      if (address.address.startsWith(REFUSED_PREFIX))
        return callback(Object.assign(new Error('No such mailbox'), { responseCode: 550 }));
      callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          const address = (value: unknown) => (value && typeof value === 'object' && 'text' in value ? String(value.text) : '');
          mails.push({
            envelope: {
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
            },
            from: address(parsed.from),
            to: address(parsed.to),
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : undefined,
            user: typeof session.user === 'string' ? session.user : undefined,
          });
          for (const wake of waiting.splice(0)) wake();
          callback();
        })
        .catch((error: Error) => callback(error));
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    async next() {
      while (taken >= mails.length) await new Promise<void>((resolve) => waiting.push(resolve));
      return mails[taken++] as ReceivedMail;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The first https link in a text, and its path. */
export function linkIn(text: string): { url: string; path: string } {
  const url = /https?:\/\/\S+/.exec(text)?.[0];
  if (!url) throw new Error(`no link in: ${text}`);
  return { url, path: new URL(url).pathname };
}
