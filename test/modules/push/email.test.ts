import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';
import { REFUSED_PREFIX, type SmtpInbox, startSmtp } from '../../helpers/smtp.js';

const FROM = 'chat@switchboard.test';
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

interface Person {
  id: number;
  token: string;
  email: string | undefined;
}

/**
 * Email notifications (notification_type=email) end to end: REST event →
 * scheduler → Delivery → EmailGateway → the real SmtpMailer → a real SMTP
 * listener on loopback. No APNs/FCM credentials are configured here.
 */
describe.each(dialects)('email notifications through SMTP (%s)', (dialect) => {
  let inbox: SmtpInbox;
  let server: TestServer;
  let app: Credentials;
  let sender: Person;
  let serial = 0;

  const as = (who: { token: string }) => ({ 'QB-Token': who.token });

  /** A user (with tags and, when given, an email address) signed in over REST. */
  async function person(login: string, options: { email?: string; tags?: string } = {}): Promise<Person> {
    const { id } = await server.app.services.users.create(app.application_id, {
      login,
      password: 'password-1',
      ...(options.email ? { email: options.email } : {}),
      ...(options.tags ? { tag_list: options.tags } : {}),
    });
    const form = sessionForm(app, server.clock.now(), { 'user[login]': login, 'user[password]': 'password-1' });
    const session = await server.request('POST', '/session.json', { form });
    expect(session.status).toBe(201);
    return { id, token: session.json.session.token as string, email: options.email };
  }

  /** POST /subscriptions.json for the email channel, as the user; `address` goes in as the token. */
  async function subscribeEmail(who: Person, address?: string) {
    const response = await server.request('POST', '/subscriptions.json', {
      headers: as(who),
      form: {
        notification_channel: 'email',
        'device[platform]': 'ios',
        'device[udid]': `mail-${++serial}`,
        ...(address ? { 'push_token[client_identification_sequence]': address } : {}),
      },
    });
    expect(response.status).toBe(201);
    return response;
  }

  async function subscribeDevice(who: Person, channel: 'apns' | 'gcm') {
    const response = await server.request('POST', '/subscriptions.json', {
      headers: as(who),
      form: {
        notification_channel: channel,
        'device[platform]': channel === 'gcm' ? 'android' : 'ios',
        'device[udid]': `device-${++serial}`,
        'push_token[environment]': 'development',
        'push_token[client_identification_sequence]':
          channel === 'apns' ? serial.toString(16).padStart(64, '0') : `fcm-token-${serial}`,
        'push_token[bundle_identifier]': 'com.example.chat',
      },
    });
    expect(response.status).toBe(201);
  }

  const createEvent = (event: Record<string, unknown>) =>
    server.request('POST', '/events.json', { headers: as(sender), json: { event: { notification_type: 'email', ...event } } });

  const status = async (id: number) => {
    const response = await server.request('GET', `/events/${id}/status.json`, { headers: as(sender) });
    expect(response.status).toBe(200);
    return response.json.event;
  };

  const eventTotal = async () => {
    const response = await server.request('GET', '/events.json', { headers: as(sender) });
    expect(response.status).toBe(200);
    return response.json.total_entries as number;
  };

  /** Every mail the listener took while `action` ran and the deliveries it caused finished. */
  async function mailsDuring(action: () => Promise<unknown>) {
    const before = inbox.mails.length;
    await action();
    await server.app.services.push.scheduler.idle();
    // The listener stores a mail before it answers DATA, so once delivery is idle every mail sent is here.
    return inbox.mails.slice(before);
  }

  beforeAll(async () => {
    inbox = await startSmtp();
    server = await startServer(dialect, { env: { SMTP_URL: inbox.url, MAIL_FROM: `Chat <${FROM}>` } });
    app = await server.createApplication();
    sender = await person('sender');
  });
  afterAll(async () => {
    await server?.close();
    await inbox?.close();
  });

  it('a one_shot email event (form-encoded, as documented) to user[ids] sends one mail with the decoded text', async () => {
    const ann = await person('ann', { email: 'ann@example.com' });
    const subscribed = await subscribeEmail(ann);
    expect(subscribed.json).toEqual([
      { subscription: expect.objectContaining({ notification_channel: { name: 'email' }, device: expect.any(Object) }) },
    ]);
    const text = 'Grüße, Ann!\nYour order #42 has shipped 📦';
    let created: Awaited<ReturnType<typeof createEvent>> | undefined;
    const mails = await mailsDuring(async () => {
      created = await server.request('POST', '/events.json', {
        headers: as(sender),
        form: {
          'event[notification_type]': 'email',
          'event[environment]': 'production',
          'event[name]': 'Order shipped',
          'event[message]': b64(text),
          'event[user][ids]': String(ann.id),
        },
      });
      expect(created.status).toBe(200);
    });
    const event = created?.json.event;
    expect(event).toMatchObject({
      event_type: 'one_shot',
      notification_channel: { name: 'email' },
      subscribers_selector: { user_ids: [ann.id] },
      message: b64(text),
    });
    expect(mails).toHaveLength(1);
    const [mail] = mails;
    expect(mail?.envelope).toEqual({ from: FROM, to: ['ann@example.com'] });
    expect(mail?.to).toBe('ann@example.com');
    expect(mail?.from).toContain(FROM);
    expect(mail?.subject).toBe('Order shipped');
    expect(mail?.text.trimEnd()).toBe(text);
    expect(await status(event.id)).toMatchObject({
      sent_count: 1,
      failed_count: 0,
      removed_count: 0,
      occured_count: 1,
      active: false,
    });

    // Without event[name] the subject is a generic one; the event's environment does not matter for email.
    const plain = await mailsDuring(async () => {
      const response = await createEvent({ environment: 'development', message: b64('second'), user: { ids: `${ann.id}` } });
      expect(response.status).toBe(200);
    });
    expect(plain.map((m) => [m.envelope.to, m.subject, m.text.trimEnd()])).toEqual([
      [['ann@example.com'], 'Notification', 'second'],
    ]);
  });

  it('by tag: each subscribed user gets their own mail, a refused address counts as failed, the rest still go', async () => {
    const dan = await person('dan', { email: 'dan@example.com', tags: 'news' });
    const erin = await person('erin', { email: `${REFUSED_PREFIX}-erin@example.com`, tags: 'news,sport' });
    const fay = await person('fay', { email: 'fay@example.com', tags: 'sport,news' });
    const gus = await person('gus', { email: 'gus@example.com', tags: 'sport' }); // not tagged news
    await person('hal', { email: 'hal@example.com', tags: 'news' }); // tagged, but no email subscription
    for (const who of [dan, erin, fay, gus]) await subscribeEmail(who);
    let id = 0;
    const mails = await mailsDuring(async () => {
      const response = await createEvent({
        name: 'Weekly news',
        message: b64('This week: tags.'),
        user: { tags: { any: 'news' } },
      });
      expect(response.status).toBe(200);
      id = response.json.event.id;
    });
    // One mail per recipient (nobody sees the others' addresses); the refused one never arrived.
    expect(mails.map((m) => m.envelope.to).sort()).toEqual([['dan@example.com'], ['fay@example.com']]);
    for (const mail of mails) {
      expect(mail.to).toBe(mail.envelope.to[0]);
      expect(mail.subject).toBe('Weekly news');
      expect(mail.text.trimEnd()).toBe('This week: tags.');
    }
    expect(await status(id)).toMatchObject({ sent_count: 2, failed_count: 1, removed_count: 0 });
    // A refused address is a failure, not a dead token: erin keeps her subscription.
    const erinSubscriptions = await server.request('GET', '/subscriptions.json', { headers: as(erin) });
    expect(erinSubscriptions.json.map((s: any) => s.subscription.notification_channel.name)).toEqual(['email']);

    // The server is fine afterwards: the next event (erin is tagged sport too) goes out to the others again.
    const again = await mailsDuring(async () => {
      const response = await createEvent({ message: b64('still here'), user: { tags: { any: 'sport' } } });
      expect(response.status).toBe(200);
      id = response.json.event.id;
    });
    expect(again.map((m) => m.envelope.to[0]).sort()).toEqual(['fay@example.com', 'gus@example.com']);
    expect(await status(id)).toMatchObject({ sent_count: 2, failed_count: 1, removed_count: 0 });
  });

  it('an email subscription of a user without an email address counts as failed; a token address is never mailed', async () => {
    const ivy = await person('ivy'); // no email
    const subscribed = await subscribeEmail(ivy);
    expect(subscribed.json).toHaveLength(1);
    let id = 0;
    const none = await mailsDuring(async () => {
      const response = await createEvent({ message: b64('to nobody'), user: { ids: `${ivy.id}` } });
      expect(response.status).toBe(200);
      id = response.json.event.id;
    });
    expect(none).toEqual([]);
    expect(await status(id)).toMatchObject({ sent_count: 0, failed_count: 1, removed_count: 0, active: false });

    // An address given as push_token[client_identification_sequence] is not where mail goes (else any
    // user could have the server mail anyone): the account's address is, and without one nothing is sent.
    const jay = await person('jay'); // no email on the account either
    const kim = await person('kim', { email: 'kim@example.com' });
    await subscribeEmail(jay, 'jay.work@example.com');
    await subscribeEmail(kim, 'kim.other@example.com');
    const mails = await mailsDuring(async () => {
      const response = await createEvent({ message: b64('token addresses'), user: { ids: `${jay.id},${kim.id}` } });
      expect(response.status).toBe(200);
      id = response.json.event.id;
    });
    expect(mails.map((m) => m.envelope.to)).toEqual([['kim@example.com']]);
    expect(await status(id)).toMatchObject({ sent_count: 1, failed_count: 1, removed_count: 0 });
  });

  it('email events reach only email subscriptions, push events only apns/gcm ones', async () => {
    const lea = await person('lea', { email: 'lea@example.com' });
    await subscribeEmail(lea);
    await subscribeDevice(lea, 'apns');
    await subscribeDevice(lea, 'gcm');
    const max = await person('max', { email: 'max@example.com' }); // devices only
    await subscribeDevice(max, 'apns');
    await subscribeDevice(max, 'gcm');

    // Email: one mail to lea; her devices and max are not tried (no APNs/FCM credentials, so a try would count failed).
    let id = 0;
    const mails = await mailsDuring(async () => {
      const response = await createEvent({ message: b64('by mail only'), user: { ids: `${lea.id},${max.id}` } });
      expect(response.status).toBe(200);
      id = response.json.event.id;
    });
    expect(mails.map((m) => [m.envelope.to, m.text.trimEnd()])).toEqual([[['lea@example.com'], 'by mail only']]);
    expect(await status(id)).toMatchObject({ sent_count: 1, failed_count: 0, removed_count: 0 });

    // Someone with an address but no email subscription cannot be reached by email.
    const before = await eventTotal();
    const unreachable = await mailsDuring(async () => {
      const response = await createEvent({ message: b64('nope'), user: { ids: `${max.id}` } });
      expect(response.status).toBe(422);
      expect(response.json).toEqual({ errors: { base: ['No one can receive the message'] } });
    });
    expect(unreachable).toEqual([]);
    expect(await eventTotal()).toBe(before);

    // A universal push to lea: no mail; her apns and gcm subscriptions are tried and fail for want of credentials.
    const pushed = await mailsDuring(async () => {
      const response = await createEvent({
        notification_type: 'push',
        environment: 'development',
        message: b64('by push only'),
        user: { ids: `${lea.id}` },
      });
      expect(response.status).toBe(200);
      id = response.json.event.id;
    });
    expect(pushed).toEqual([]);
    expect(await status(id)).toMatchObject({ sent_count: 0, failed_count: 2, removed_count: 0, active: false });
    // Failing for want of credentials removes nothing.
    const left = await server.request('GET', '/subscriptions.json', { headers: as(lea) });
    expect(left.json.map((s: any) => s.subscription.notification_channel.name).sort()).toEqual(['apns', 'email', 'gcm']);

    // A push to someone with only an email subscription reaches no one.
    const nan = await person('nan', { email: 'nan@example.com' });
    await subscribeEmail(nan);
    const total = await eventTotal();
    const none = await mailsDuring(async () => {
      const response = await createEvent({
        notification_type: 'push',
        environment: 'development',
        message: b64('push to a mailbox'),
        user: { ids: `${nan.id}` },
      });
      expect(response.status).toBe(422);
      expect(response.json).toEqual({ errors: { base: ['No one can receive the message'] } });
      // Naming the email channel as a push type is refused outright.
      const named = await createEvent({
        notification_type: 'push',
        push_type: 'email',
        environment: 'development',
        message: b64('push to a mailbox'),
        user: { ids: `${nan.id}` },
      });
      expect(named.status).toBe(422);
      expect(Object.keys(named.json.errors)).toEqual(['event.push_type']);
    });
    expect(none).toEqual([]);
    expect(await eventTotal()).toBe(total);
  });

  it('a user with email subscriptions on two devices gets one mail, counted once', async () => {
    const quinn = await person('quinn', { email: 'quinn@example.com' });
    await subscribeEmail(quinn);
    await subscribeEmail(quinn);
    const listed = await server.request('GET', '/subscriptions.json', { headers: as(quinn) });
    expect(listed.json).toHaveLength(2);
    let id = 0;
    const mails = await mailsDuring(async () => {
      const response = await createEvent({ message: b64('once'), user: { ids: `${quinn.id}` } });
      expect(response.status).toBe(200);
      id = response.json.event.id;
    });
    expect(mails.map((m) => m.envelope.to)).toEqual([['quinn@example.com']]);
    expect(await status(id)).toMatchObject({ sent_count: 1, failed_count: 0, removed_count: 0 });
  });

  it('bad input: a message that is not base64 (or is missing) is a 422 on event.message and creates no event', async () => {
    const olga = await person('olga', { email: 'olga@example.com' });
    await subscribeEmail(olga);
    const before = await eventTotal();
    const mails = await mailsDuring(async () => {
      for (const message of ['Hello, plain text!', 'aGk', 'aGk=x', '%%%%', '====']) {
        const response = await createEvent({ message, user: { ids: `${olga.id}` } });
        expect(response.status, message).toBe(422);
        expect(response.json, message).toEqual({ errors: { 'event.message': ['must be base64 encoded'] } });
      }
      for (const message of [undefined, '', '   ']) {
        const response = await createEvent({ message, user: { ids: `${olga.id}` } });
        expect(response.status, String(message)).toBe(422);
        expect(response.json.errors['event.message'], String(message)).toEqual(["can't be blank"]);
      }
    });
    expect(mails).toEqual([]);
    expect(await eventTotal()).toBe(before);
    // The same event with the message encoded is accepted: the refusals above were about the message.
    const good = await mailsDuring(async () => {
      expect((await createEvent({ message: b64('Hello, plain text!'), user: { ids: `${olga.id}` } })).status).toBe(200);
    });
    expect(good.map((m) => [m.envelope.to[0], m.text.trimEnd()])).toEqual([['olga@example.com', 'Hello, plain text!']]);
    expect(await eventTotal()).toBe(before + 1);
  });

  it('an event name with line breaks cannot add mail headers or recipients', async () => {
    const pia = await person('pia', { email: 'pia@example.com' });
    await subscribeEmail(pia);
    const mails = await mailsDuring(async () => {
      const response = await createEvent({
        name: 'Hello\r\nBcc: thief@example.com\r\nX-Injected: yes',
        message: b64('body'),
        user: { ids: `${pia.id}` },
      });
      expect(response.status).toBe(200);
    });
    expect(mails).toHaveLength(1);
    expect(mails[0]?.envelope.to).toEqual(['pia@example.com']);
    expect(mails[0]?.subject).toBe('Hello Bcc: thief@example.com X-Injected: yes');
    expect(mails[0]?.text.trimEnd()).toBe('body');
  });
});
