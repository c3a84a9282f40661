import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailer } from '../../src/adapters/mailer/index.js';
import { type ApnsCredentials, ApnsGateway, EmailGateway, FcmGateway, type PushGateway } from '../../src/adapters/push/index.js';
import { generateCertificate } from '../../src/core/certificate.js';
import { type ApnsStandIn, apnsClientCertificate, type FcmStandIn, startApns, startFcm } from '../helpers/push-gateways.js';
import { REFUSED_PREFIX, type SmtpInbox, startSmtp } from '../helpers/smtp.js';

/** One implementation with its loopback stand-in: how to address a device, script it, and see what arrived. */
interface Harness {
  gateway: PushGateway<any>;
  /** A notification to this device (or address) carrying this text. */
  notification(device: string, text: string): unknown;
  /** A device the stand-in will answer as dead, as failing once, or as fine. */
  device(kind: 'ok' | 'dead' | 'transient-once'): string;
  /** The texts that arrived at this device. */
  arrived(device: string): Promise<string[]>;
  close(): Promise<void>;
}

let serial = 0;
const hex = () => (++serial).toString(16).padStart(64, '0');

const implementations: Array<[string, () => Promise<Harness>]> = [
  [
    'apns (HTTP/2, token auth)',
    async () => {
      const apns: ApnsStandIn = await startApns();
      const gateway = new ApnsGateway({ production: apns.url, development: apns.url });
      return {
        gateway,
        notification: (token, text) => ({
          token,
          environment: 'development',
          topic: 'com.example.app',
          pushType: 'alert',
          payload: { aps: { alert: { body: text } } },
          collapseId: 'event1',
          credentials: { kind: 'token', keyId: apns.keyId, teamId: apns.teamId, privateKey: apns.privateKey },
        }),
        device(kind) {
          const token = hex();
          if (kind !== 'ok') apns.behave(token, kind);
          return token;
        },
        arrived: async (token) => apns.pushes.filter((p) => p.token === token).map((p) => p.body.aps.alert.body),
        async close() {
          await gateway.close();
          await apns.close();
        },
      };
    },
  ],
  [
    'fcm (HTTP v1, service account)',
    async () => {
      const fcm: FcmStandIn = await startFcm();
      const gateway = new FcmGateway(fcm.url, null);
      const sa = fcm.serviceAccount;
      return {
        gateway,
        notification: (token, text) => ({
          token,
          data: { message: text },
          collapseKey: 'event1',
          credentials: {
            projectId: sa.project_id,
            clientEmail: sa.client_email,
            privateKey: sa.private_key,
            tokenUri: sa.token_uri,
          },
        }),
        device(kind) {
          const token = `fcm-${++serial}`;
          if (kind !== 'ok') fcm.behave(token, kind);
          return token;
        },
        arrived: async (token) => fcm.pushes.filter((p) => p.token === token).map((p) => p.body.message.data.message),
        async close() {
          await gateway.close();
          await fcm.close();
        },
      };
    },
  ],
  [
    'email (Mailer over SMTP)',
    async () => {
      const inbox: SmtpInbox = await startSmtp();
      const mailer = createMailer({ mail: { smtpUrl: inbox.url, from: 'Test <no-reply@switchboard.test>' } }, console);
      const gateway = new EmailGateway(mailer);
      return {
        gateway,
        notification: (to, text) => ({ to, subject: 'Hello', text }),
        // SMTP has no "dead token"; a refused recipient is a failure, not a retry.
        device: (kind) => (kind === 'ok' ? `user${++serial}@example.com` : `${REFUSED_PREFIX}${++serial}@example.com`),
        arrived: async (to) => inbox.mails.filter((m) => m.to === to).map((m) => m.text.trim()),
        async close() {
          await mailer.close();
          await inbox.close();
        },
      };
    },
  ],
];

describe.each(implementations)('PushGateway contract: %s', (name, start) => {
  let h: Harness;
  beforeAll(async () => {
    h = await start();
  });
  afterAll(() => h?.close());

  it('delivers a notification and reports it sent', async () => {
    const device = h.device('ok');
    expect(await h.gateway.send(h.notification(device, 'hello'))).toEqual({ outcome: 'sent' });
    expect(await h.arrived(device)).toEqual(['hello']);
  });

  it('delivers many concurrently over one connection', async () => {
    const devices = Array.from({ length: 20 }, () => h.device('ok'));
    const results = await Promise.all(devices.map((d, i) => h.gateway.send(h.notification(d, `n${i}`))));
    expect(results.every((r) => r.outcome === 'sent')).toBe(true);
    for (const [i, d] of devices.entries()) expect(await h.arrived(d)).toEqual([`n${i}`]);
  });

  it('never throws for a refused device: dead tokens are dead, refused addresses failed', async () => {
    const result = await h.gateway.send(h.notification(h.device('dead'), 'x'));
    expect(result.outcome).toBe(name.startsWith('email') ? 'failed' : 'dead');
  });

  it.skipIf(name.startsWith('email'))('reports a transient failure as retry, and the retry gets through', async () => {
    const device = h.device('transient-once');
    expect((await h.gateway.send(h.notification(device, 'again'))).outcome).toBe('retry');
    expect(await h.gateway.send(h.notification(device, 'again'))).toEqual({ outcome: 'sent' });
    expect(await h.arrived(device)).toEqual(['again']);
  });
});

describe('gateway specifics', () => {
  it('APNs: ES256 provider token reused across pushes; headers as Apple wants them; unreachable host is retry', async () => {
    const apns = await startApns();
    const gateway = new ApnsGateway({ production: apns.url, development: apns.url });
    const credentials = { kind: 'token' as const, keyId: apns.keyId, teamId: apns.teamId, privateKey: apns.privateKey };
    for (const pushType of ['alert', 'voip'] as const) {
      const result = await gateway.send({
        token: hex(),
        environment: 'production',
        topic: pushType === 'voip' ? 'com.example.app.voip' : 'com.example.app',
        pushType,
        payload: { aps: {} },
        collapseId: 'event7',
        credentials,
      });
      expect(result).toEqual({ outcome: 'sent' });
    }
    expect(apns.jwts.size).toBe(1);
    expect(apns.pushes.map((p) => [p.headers['apns-topic'], p.headers['apns-push-type'], p.headers['apns-collapse-id']])).toEqual(
      [
        ['com.example.app', 'alert', 'event7'],
        ['com.example.app.voip', 'voip', 'event7'],
      ],
    );
    const bad = await gateway.send({
      token: hex(),
      environment: 'production',
      topic: 't',
      pushType: 'alert',
      payload: {},
      credentials: { ...credentials, keyId: 'WRONGKEYID' },
    });
    expect(bad).toEqual({ outcome: 'failed', reason: 'InvalidProviderToken' });
    await gateway.close();
    await apns.close();
    const down = new ApnsGateway({ production: apns.url, development: apns.url });
    expect(
      (await down.send({ token: hex(), environment: 'production', topic: 't', pushType: 'alert', payload: {}, credentials }))
        .outcome,
    ).toBe('retry');
    await down.close();
  });

  it('FCM: one OAuth token for many pushes; collapse key passed; a bad key fails', async () => {
    const fcm = await startFcm();
    const gateway = new FcmGateway(fcm.url, fcm.tokenUrl);
    const sa = fcm.serviceAccount;
    const credentials = { projectId: sa.project_id, clientEmail: sa.client_email, privateKey: sa.private_key };
    for (let i = 0; i < 3; i++) {
      expect(await gateway.send({ token: `t${i}`, data: { message: 'm' }, collapseKey: 'event9', credentials })).toEqual({
        outcome: 'sent',
      });
    }
    expect(fcm.tokenRequests).toBe(1);
    expect(fcm.pushes[0]?.body.message.android.collapse_key).toBe('event9');
    const other = (await startFcm()).serviceAccount.private_key;
    const refused = await new FcmGateway(fcm.url, fcm.tokenUrl).send({
      token: 'x',
      data: { message: 'm' },
      credentials: { ...credentials, privateKey: other },
    });
    expect(refused.outcome).toBe('failed');
    await fcm.close();
  });
});

describe('gateway credentials and token lifetimes', () => {
  it('APNs certificate auth: a client certificate the host trusts needs no provider token; an unknown one is refused', async () => {
    const server = await generateCertificate(['127.0.0.1']);
    const client = await apnsClientCertificate('com.example.app');
    const apns = await startApns({ tls: { key: server.key, cert: server.cert, clientCa: client.cert } });
    const gateway = new ApnsGateway({ production: apns.url, development: apns.url }, Date.now, server.cert);
    const push = (credentials: ApnsCredentials) =>
      gateway.send({
        token: hex(),
        environment: 'development',
        topic: 'com.example.app',
        pushType: 'alert',
        payload: { aps: {} },
        credentials,
      });
    expect(await push({ kind: 'certificate', cert: client.cert, key: client.key })).toEqual({ outcome: 'sent' });
    expect(apns.pushes).toHaveLength(1);
    expect(apns.pushes[0]?.headers.authorization).toBeUndefined();
    expect(apns.jwts.size).toBe(0);
    const stranger = await apnsClientCertificate('someone.else');
    expect(await push({ kind: 'certificate', cert: stranger.cert, key: stranger.key })).toEqual({
      outcome: 'failed',
      reason: 'MissingProviderToken',
    });
    expect(apns.pushes).toHaveLength(1);
    await gateway.close();
    await apns.close();
  });

  it('APNs: the provider token is renewed once it nears the hour, not before', async () => {
    const apns = await startApns();
    let now = Date.now();
    const gateway = new ApnsGateway({ production: apns.url, development: apns.url }, () => now);
    const credentials = { kind: 'token' as const, keyId: apns.keyId, teamId: apns.teamId, privateKey: apns.privateKey };
    const push = () =>
      gateway.send({
        token: hex(),
        environment: 'production',
        topic: 'com.example.app',
        pushType: 'alert',
        payload: { aps: {} },
        credentials,
      });
    expect(await push()).toEqual({ outcome: 'sent' });
    now += 20 * 60_000;
    expect(await push()).toEqual({ outcome: 'sent' });
    expect(apns.jwts.size).toBe(1);
    now += 40 * 60_000;
    expect(await push()).toEqual({ outcome: 'sent' });
    expect(apns.jwts.size).toBe(2);
    await gateway.close();
    await apns.close();
  });

  it('APNs: background pushes go at priority 5, which the stand-in insists on', async () => {
    const apns = await startApns();
    const gateway = new ApnsGateway({ production: apns.url, development: apns.url });
    const credentials = { kind: 'token' as const, keyId: apns.keyId, teamId: apns.teamId, privateKey: apns.privateKey };
    const result = await gateway.send({
      token: hex(),
      environment: 'production',
      topic: 'com.example.app',
      pushType: 'background',
      payload: { aps: { 'content-available': 1 } },
      credentials,
    });
    expect(result).toEqual({ outcome: 'sent' });
    expect(apns.pushes[0]?.headers).toMatchObject({ 'apns-push-type': 'background', 'apns-priority': '5' });
    await gateway.close();
    await apns.close();
  });

  it('FCM: the first pushes of a send share one token request', async () => {
    const fcm = await startFcm();
    const gateway = new FcmGateway(fcm.url, fcm.tokenUrl);
    const sa = fcm.serviceAccount;
    const credentials = { projectId: sa.project_id, clientEmail: sa.client_email, privateKey: sa.private_key };
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => gateway.send({ token: `cold-${i}`, data: { message: 'm' }, credentials })),
    );
    expect(results.every((r) => r.outcome === 'sent')).toBe(true);
    expect(fcm.tokenRequests).toBe(1);
    await fcm.close();
  });

  it('FCM: the OAuth token is cached until shortly before it expires, then fetched again', async () => {
    const fcm = await startFcm();
    let now = Date.now();
    const gateway = new FcmGateway(fcm.url, fcm.tokenUrl, () => now);
    const sa = fcm.serviceAccount;
    const credentials = { projectId: sa.project_id, clientEmail: sa.client_email, privateKey: sa.private_key };
    const push = () => gateway.send({ token: 'tok', data: { message: 'm' }, credentials });
    expect(await push()).toEqual({ outcome: 'sent' });
    now += 30 * 60_000;
    expect(await push()).toEqual({ outcome: 'sent' });
    expect(fcm.tokenRequests).toBe(1);
    now += 30 * 60_000;
    expect(await push()).toEqual({ outcome: 'sent' });
    expect(fcm.tokenRequests).toBe(2);
    await fcm.close();
  });
});
