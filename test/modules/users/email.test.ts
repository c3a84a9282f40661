import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { parseSettingValue } from '../../../src/modules/apps/settings.js';
import { call, createSdk } from '../../helpers/sdk.js';
import { dialects, type RawResponse, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';
import { linkIn, REFUSED_PREFIX, type SmtpInbox, startSmtp } from '../../helpers/smtp.js';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

describe.each(dialects)('password reset and email confirmation by mail (%s)', (dialect) => {
  let inbox: SmtpInbox;
  let server: TestServer;
  let app: Credentials;
  let QB: any;

  beforeAll(async () => {
    inbox = await startSmtp();
    server = await startServer(dialect, { env: { SMTP_URL: inbox.url, MAIL_FROM: 'Switchboard <no-reply@switchboard.test>' } });
    app = await server.createApplication();
    QB = createSdk(server, app);
  });
  afterAll(async () => {
    await server?.close();
    await inbox?.close();
  });

  // The SDK signs with its own clock (Date), so both clocks move together.
  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(server.clock.now());
    await call((cb) => QB.createSession(cb)); // a fresh application session each time: the clock may have moved
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  function advance(ms: number): void {
    server.clock.advance(ms);
    vi.setSystemTime(server.clock.now());
  }

  const appName = () => server.app.services.apps.getApplication(app.application_id).then((a) => a?.name ?? '');
  const setSettings = (changes: Record<string, unknown>) =>
    server.app.services.apps.updateSettings(app.application_id, changes as never);

  async function session(credentials?: { login?: string; email?: string; password: string }): Promise<RawResponse> {
    const user: Record<string, string> = {};
    if (credentials?.login) user['user[login]'] = credentials.login;
    if (credentials?.email) user['user[email]'] = credentials.email;
    if (credentials) user['user[password]'] = credentials.password;
    return server.request('POST', '/session.json', { form: sessionForm(app, server.clock.now(), user) });
  }
  async function appToken(): Promise<string> {
    return (await session()).json.session.token;
  }
  const follow = (path: string, form?: Record<string, string>) =>
    form ? server.request('POST', path, { form }) : server.request('GET', path);

  describe('password reset', () => {
    it('mails a link through the SDK call; its page sets a new password and ends the old sessions', async () => {
      const user = await server.createUser(app.application_id, 'resetter', 'old-password-1', 'resetter@example.com');
      const before = await session({ login: 'resetter', password: 'old-password-1' });
      expect(before.status).toBe(201);
      const oldToken = before.json.session.token;

      const answer = await call((cb) => QB.users.resetPassword('Resetter@Example.com', cb));
      expect(answer === '' || answer === undefined || answer === null || answer === ' ').toBe(true);

      const mail = await inbox.next();
      expect(mail.to).toBe('resetter@example.com');
      expect(mail.from).toContain('no-reply@switchboard.test');
      expect(mail.subject).toBe(`Reset your ${await appName()} password`);
      expect(mail.text).toContain('Hello resetter,');
      const link = linkIn(mail.text);
      expect(link.url.startsWith(`${server.config.endpoints.api}/password/reset/`)).toBe(true);
      expect(link.path).toMatch(/^\/password\/reset\/[0-9a-f]{40}$/);
      // Only a hash is stored.
      expect(JSON.stringify(await tokensOf(user.id))).not.toContain(link.path.split('/').pop());

      const form = await follow(link.path);
      expect(form.status).toBe(200);
      expect(form.headers['content-type']).toMatch(/^text\/html/);
      expect(form.headers['cache-control']).toBe('no-store');
      expect(form.headers['referrer-policy']).toBe('no-referrer');
      expect(form.text).toContain('<form method="post">');
      expect(form.text).toContain('name="password"');

      // The Users API's rule, and a confirmation that must match; the link stays usable meanwhile.
      const short = await follow(link.path, { password: 'short', password_confirmation: 'short' });
      expect(short.status).toBe(422);
      expect(short.headers['content-type']).toMatch(/^text\/html/);
      expect(short.text).toContain('is too short (minimum is 8 characters)');
      const mismatch = await follow(link.path, { password: 'new-password-1', password_confirmation: 'new-password-2' });
      expect(mismatch.status).toBe(422);
      expect(mismatch.text).toContain('do not match');
      const empty = await follow(link.path, {});
      expect(empty.status).toBe(422);

      const done = await follow(link.path, { password: 'new-password-1', password_confirmation: 'new-password-1' });
      expect(done.status).toBe(200);
      expect(done.text).toContain('Your password has been changed');

      // The session from before the reset has ended; only the new password signs in.
      expect((await server.request('GET', '/session.json', { headers: { 'QB-Token': oldToken } })).status).toBe(401);
      const old = await session({ login: 'resetter', password: 'old-password-1' });
      expect(old.status).toBe(401);
      expect(old.json).toEqual({ errors: { base: ['Unauthorized'] } });
      expect((await session({ login: 'resetter', password: 'new-password-1' })).status).toBe(201);
      expect((await session({ email: 'resetter@example.com', password: 'new-password-1' })).status).toBe(201);

      // The link works once.
      const again = await follow(link.path);
      expect(again.status).toBe(410);
      expect(again.headers['content-type']).toMatch(/^text\/html/);
      expect(again.text).toMatch(/^<!doctype html>/);
      expect(again.text).toContain('already been used');
      const reuse = await follow(link.path, { password: 'third-password', password_confirmation: 'third-password' });
      expect(reuse.status).toBe(410);
      expect((await session({ login: 'resetter', password: 'third-password' })).status).toBe(401);
    });

    it('answers on the documented path too, for any session or API key', async () => {
      await server.createUser(app.application_id, 'documented', 'password-123', 'documented@example.com');
      const apiKey = await server.app.services.apps.createApiKey(app.application_id);
      const viaToken = await server.request('GET', '/password/reset.json?email=documented%40example.com', {
        headers: { 'QB-Token': await appToken() },
      });
      expect(viaToken.status).toBe(200);
      expect(viaToken.text).toBe('');
      expect((await inbox.next()).to).toBe('documented@example.com');

      advance(2 * 60 * 1000);
      const viaKey = await server.request('GET', '/users/password/reset.json?email=documented@example.com', {
        headers: { Authorization: `ApiKey ${apiKey}` },
      });
      expect(viaKey.status).toBe(200);
      expect((await inbox.next()).to).toBe('documented@example.com');

      const anonymous = await server.request('GET', '/users/password/reset.json?email=documented@example.com');
      expect(anonymous.status).toBe(401);
      expect(anonymous.json).toEqual({ errors: { base: ['Required session does not exist'] } });
    });

    it('refuses an expired link, and only the newest link works', async () => {
      await server.createUser(app.application_id, 'slowpoke', 'old-password-1', 'slowpoke@example.com');
      await call((cb) => QB.users.resetPassword('slowpoke@example.com', cb));
      const first = linkIn((await inbox.next()).text);

      // Asking again within a minute sends nothing more (no mailbox flooding)...
      const count = inbox.mails.length;
      await call((cb) => QB.users.resetPassword('slowpoke@example.com', cb));
      expect(inbox.mails.length).toBe(count);

      // ...after it, a new link replaces the first.
      advance(61 * 1000);
      await call((cb) => QB.users.resetPassword('slowpoke@example.com', cb));
      const second = linkIn((await inbox.next()).text);
      expect(second.path).not.toBe(first.path);
      expect((await follow(first.path)).status).toBe(404);
      expect((await follow(second.path)).status).toBe(200);

      advance(HOUR + 1000);
      const expired = await follow(second.path);
      expect(expired.status).toBe(410);
      expect(expired.text).toContain('This link has expired');
      const late = await follow(second.path, { password: 'new-password-1', password_confirmation: 'new-password-1' });
      expect(late.status).toBe(410);
      expect((await session({ login: 'slowpoke', password: 'old-password-1' })).status).toBe(201);
      expect((await session({ login: 'slowpoke', password: 'new-password-1' })).status).toBe(401);
    });

    it('answers bad and unknown emails as errors, and unknown links with a 404 page', async () => {
      const headers = { 'QB-Token': await appToken() };
      const ask = (query: string) => server.request('GET', `/users/password/reset.json${query}`, { headers });
      const count = inbox.mails.length;

      expect((await ask('')).json).toEqual({ errors: { email: ["can't be blank"] } });
      expect((await ask('?email=')).status).toBe(422);
      for (const bad of ['not-an-email', 'a@b', '%20@example.com', `${'x'.repeat(250)}@example.com`]) {
        const response = await ask(`?email=${bad}`);
        expect(response.status, bad).toBe(422);
        expect(response.json, bad).toEqual({ errors: { email: ['is invalid'] } });
      }
      expect((await ask('?email[]=a@example.com')).json).toEqual({ errors: { email: ['must be a string'] } });

      // As on QuickBlox: 404 for an email no user of this application has (GET /users/by_email.json tells as much).
      const unknown = await ask('?email=nobody@example.com');
      expect(unknown.status).toBe(404);
      expect(unknown.json).toEqual({ errors: ['Not Found'] });
      await expect(call((cb) => QB.users.resetPassword('nobody@example.com', cb))).rejects.toMatchObject({ code: 404 });

      // A user of another application is not found either.
      const other = await server.createApplication();
      await server.createUser(other.application_id, 'elsewhere', 'password-123', 'elsewhere@example.com');
      expect((await ask('?email=elsewhere@example.com')).status).toBe(404);
      expect(inbox.mails.length).toBe(count);

      for (const path of [
        `/password/reset/${'0'.repeat(40)}`,
        '/password/reset/nonsense',
        `/password/reset/${'a'.repeat(300)}`,
      ]) {
        const page = await follow(path);
        expect(page.status, path).toBe(404);
        expect(page.headers['content-type']).toMatch(/^text\/html/);
        expect(page.text).toContain('This link is not valid');
        expect((await follow(path, { password: 'new-password-1' })).status).toBe(404);
      }
    });

    it('answers 503 when the mail cannot be sent, and lets the user ask again at once', async () => {
      await server.createUser(app.application_id, 'bouncer', 'password-123', `${REFUSED_PREFIX}@example.com`);
      const headers = { 'QB-Token': await appToken() };
      const first = await server.request('GET', `/users/password/reset.json?email=${REFUSED_PREFIX}@example.com`, { headers });
      expect(first.status).toBe(503);
      expect(first.json).toEqual({ errors: { base: ['The mail could not be sent, please try again later'] } });
      const again = await server.request('GET', `/users/password/reset.json?email=${REFUSED_PREFIX}@example.com`, { headers });
      expect(again.status).toBe(503);
    });

    it('uses the application template', async () => {
      await server.createUser(app.application_id, 'templated', 'password-123', 'templated@example.com');
      await server.app.services.users.update(
        app.application_id,
        { userId: null, via: 'apikey' },
        (await server.app.services.users.getBy(app.application_id, 'login', 'templated')).id,
        { full_name: 'Tem <Plated>' },
      );
      await setSettings({
        email_templates: parseSettingValue(
          'email_templates',
          JSON.stringify({
            reset_password: {
              subject: '{{app_name}}: new password for {{ full_name }}',
              text: 'Go to {{link}} ({{login}}) {{unknown}}',
            },
          }),
        ),
      });
      try {
        await call((cb) => QB.users.resetPassword('templated@example.com', cb));
        const mail = await inbox.next();
        expect(mail.subject).toBe(`${await appName()}: new password for Tem <Plated>`);
        expect(mail.text).toMatch(/^Go to https:\/\/\S+\/password\/reset\/[0-9a-f]{40} \(templated\) \{\{unknown\}\}/);
        const page = await follow(linkIn(mail.text).path);
        expect(page.status).toBe(200);
      } finally {
        await setSettings({ email_templates: {} });
      }
    });
  });

  describe('email confirmation', () => {
    afterEach(async () => {
      await setSettings({ require_email_confirmation: false });
    });

    it('is off by default: sign-up sends nothing and the user signs in at once', async () => {
      const count = inbox.mails.length;
      const user = await call((cb) =>
        QB.users.create({ login: 'eager', password: 'password-123', email: 'eager@example.com' }, cb),
      );
      expect(user.id).toBeGreaterThan(0);
      expect(inbox.mails.length).toBe(count);
      expect((await session({ login: 'eager', password: 'password-123' })).status).toBe(201);
    });

    it('when on, mails a link at sign-up and refuses user sessions until it is followed', async () => {
      const existing = await server.createUser(app.application_id, 'veteran', 'password-123', 'veteran@example.com');
      await setSettings({ require_email_confirmation: true });

      // An account that must confirm its email needs one.
      const noEmail = await server.request('POST', '/users.json', {
        headers: { 'QB-Token': await appToken() },
        form: { 'user[login]': 'no-email', 'user[password]': 'password-123' },
      });
      expect(noEmail.status).toBe(422);
      expect(noEmail.json).toEqual({ errors: { email: ["can't be blank"] } });

      const user = await call((cb) =>
        QB.users.create({ login: 'newbie', password: 'password-123', email: 'Newbie@Example.com', full_name: 'New Bie' }, cb),
      );
      const mail = await inbox.next();
      expect(mail.to).toBe('newbie@example.com');
      expect(mail.subject).toBe(`Confirm your email for ${await appName()}`);
      expect(mail.text).toContain('Hello New Bie,');
      const link = linkIn(mail.text);
      expect(link.path).toMatch(/^\/users\/confirm\/[0-9a-f]{40}$/);

      // Not yet: POST /session.json and POST /login.json both refuse, with QuickBlox's 422.
      const refused = await session({ login: 'newbie', password: 'password-123' });
      expect(refused.status).toBe(422);
      expect(refused.json).toEqual({ errors: { base: ['Email is not confirmed; follow the link in the confirmation mail'] } });
      await expect(
        call((cb) => QB.createSession({ email: 'newbie@example.com', password: 'password-123' }, cb)),
      ).rejects.toMatchObject({
        code: 422,
      });
      const login = await server.request('POST', '/login.json', {
        headers: { 'QB-Token': await appToken() },
        form: { login: 'newbie', password: 'password-123' },
      });
      expect(login.status).toBe(422);
      // A wrong password is still just unauthorized: the state is told only to whoever knows the password.
      expect((await session({ login: 'newbie', password: 'wrong-password' })).json).toEqual({
        errors: { base: ['Unauthorized'] },
      });
      // The link mailed at sign-up still works, so no new one went out.
      expect(inbox.mails.filter((m) => m.to === 'newbie@example.com')).toHaveLength(1);

      // Users from before the setting was on are not affected.
      expect((await session({ login: 'veteran', password: 'password-123' })).status).toBe(201);
      expect(existing.id).toBeGreaterThan(0);

      // A HEAD (a link checker) does not use the link up; a visit does.
      expect((await server.request('HEAD', link.path)).status).toBe(200);
      const confirmed = await follow(link.path);
      expect(confirmed.status).toBe(200);
      expect(confirmed.text).toContain('Your email is confirmed');
      expect(confirmed.headers['cache-control']).toBe('no-store');
      const reused = await follow(link.path);
      expect(reused.status).toBe(410);
      expect(reused.text).toContain('already been used');

      const accepted = await session({ login: 'newbie', password: 'password-123' });
      expect(accepted.status).toBe(201);
      expect(accepted.json.session.user_id).toBe(user.id);
      const viaLogin = await server.request('POST', '/login.json', {
        headers: { 'QB-Token': await appToken() },
        form: { email: 'newbie@example.com', password: 'password-123' },
      });
      expect(viaLogin.status).toBe(200);
      expect(viaLogin.json.user.id).toBe(user.id);
    });

    it('refuses an expired link; signing in then mails a new one', async () => {
      await setSettings({ require_email_confirmation: true });
      await call((cb) => QB.users.create({ login: 'forgetful', password: 'password-123', email: 'forgetful@example.com' }, cb));
      const first = linkIn((await inbox.next()).text);

      advance(8 * DAY);
      const expired = await follow(first.path);
      expect(expired.status).toBe(410);
      expect(expired.headers['content-type']).toMatch(/^text\/html/);
      expect(expired.text).toContain('This link has expired');

      expect((await session({ login: 'forgetful', password: 'password-123' })).status).toBe(422);
      const resent = await inbox.next();
      expect(resent.to).toBe('forgetful@example.com');
      const second = linkIn(resent.text);
      expect(second.path).not.toBe(first.path);
      // While that one works, further attempts send nothing more.
      const count = inbox.mails.length;
      expect((await session({ login: 'forgetful', password: 'password-123' })).status).toBe(422);
      expect(inbox.mails.length).toBe(count);

      expect((await follow(second.path)).status).toBe(200);
      expect((await session({ login: 'forgetful', password: 'password-123' })).status).toBe(201);
    });

    it('lets unconfirmed users in once the setting is off again, and a password reset confirms the email', async () => {
      await setSettings({ require_email_confirmation: true });
      await call((cb) => QB.users.create({ login: 'undecided', password: 'password-123', email: 'undecided@example.com' }, cb));
      await inbox.next();
      await call((cb) => QB.users.create({ login: 'resetting', password: 'password-123', email: 'resetting@example.com' }, cb));
      await inbox.next();
      expect((await session({ login: 'undecided', password: 'password-123' })).status).toBe(422);

      await setSettings({ require_email_confirmation: false });
      expect((await session({ login: 'undecided', password: 'password-123' })).status).toBe(201);
      await setSettings({ require_email_confirmation: true });
      expect((await session({ login: 'undecided', password: 'password-123' })).status).toBe(422);

      // Following a reset link proves the mailbox as well as a confirmation link does.
      await call((cb) => QB.users.resetPassword('resetting@example.com', cb));
      const reset = linkIn((await inbox.next()).text);
      const done = await follow(reset.path, { password: 'password-456', password_confirmation: 'password-456' });
      expect(done.status).toBe(200);
      expect((await session({ login: 'resetting', password: 'password-456' })).status).toBe(201);
    });

    it('uses the application template, and unknown links get a 404 page', async () => {
      await setSettings({
        require_email_confirmation: true,
        email_templates: { confirm_email: { subject: 'Welcome to {{app_name}}, {{full_name}}' } },
      });
      try {
        await call((cb) => QB.users.create({ login: 'welcomed', password: 'password-123', email: 'welcomed@example.com' }, cb));
        const mail = await inbox.next();
        expect(mail.subject).toBe(`Welcome to ${await appName()}, welcomed`);
        // The text not overridden keeps the default.
        expect(linkIn(mail.text).path).toMatch(/^\/users\/confirm\/[0-9a-f]{40}$/);
      } finally {
        await setSettings({ email_templates: {} });
      }
      for (const path of [`/users/confirm/${'f'.repeat(40)}`, '/users/confirm/zzz']) {
        const page = await follow(path);
        expect(page.status, path).toBe(404);
        expect(page.text).toContain('This link is not valid');
      }
      // A reset link is not a confirmation link.
      await server.createUser(app.application_id, 'crosser', 'password-123', 'crosser@example.com');
      await call((cb) => QB.users.resetPassword('crosser@example.com', cb));
      const reset = linkIn((await inbox.next()).text);
      expect((await follow(`/users/confirm/${reset.path.split('/').pop()}`)).status).toBe(404);
    });

    it('checks the template setting', () => {
      const templates = (value: string) => () => parseSettingValue('email_templates', value);
      expect(parseSettingValue('email_templates', '')).toEqual({});
      expect(parseSettingValue('require_email_confirmation', 'true')).toBe(true);
      for (const bad of [
        'nope',
        '[]',
        '{"other":{}}',
        '{"reset_password":"x"}',
        '{"reset_password":{"body":"x"}}',
        '{"reset_password":{"text":""}}',
      ]) {
        expect(templates(bad), bad).toThrow();
      }
    });
  });

  async function tokensOf(userId: number) {
    return server.app.services.storage.db.selectFrom('user_email_tokens').selectAll().where('user_id', '=', userId).execute();
  }
});
