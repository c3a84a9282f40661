import http2 from 'node:http2';
import { importPKCS8, SignJWT } from 'jose';
import type { ApnsCredentials, ApnsNotification, DeliveryResult, PushGateway } from './types.js';

/** Apple refuses provider tokens older than an hour and throttles ones renewed more than every 20 minutes. */
const TOKEN_TTL_MS = 50 * 60_000;
const TIMEOUT_MS = 10_000;
/** Reasons that mean the device token is dead (Apple's documented 400/410 reasons). */
const DEAD = new Set(['BadDeviceToken', 'Unregistered', 'DeviceTokenNotForTopic', 'ExpiredToken']);

/**
 * APNs over HTTP/2 (node:http2), one connection per host and credentials,
 * token auth (ES256 JWT, cached and refreshed) or certificate auth.
 */
export class ApnsGateway implements PushGateway<ApnsNotification> {
  readonly channel = 'apns';
  private readonly sessions = new Map<string, http2.ClientHttp2Session>();
  private readonly tokens = new Map<string, { jwt: string; issuedAt: number }>();

  constructor(
    private readonly hosts: { production: string; development: string },
    private readonly now: () => number = Date.now,
    /** The CA (PEM) to trust for the APNs hosts instead of the system's: loopback stand-ins. */
    private readonly ca?: string,
  ) {}

  async send(n: ApnsNotification): Promise<DeliveryResult> {
    const host = this.hosts[n.environment];
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': `/3/device/${encodeURIComponent(n.token)}`,
      'content-type': 'application/json',
      'apns-topic': n.topic,
      'apns-push-type': n.pushType,
      'apns-priority': n.pushType === 'background' ? '5' : '10',
      'apns-expiration': '0',
    };
    if (n.collapseId) headers['apns-collapse-id'] = n.collapseId.slice(0, 64);
    let answer: { status: number; body: string; retryAfter?: string };
    try {
      if (n.credentials.kind === 'token') headers.authorization = `bearer ${await this.providerToken(n.credentials)}`;
      answer = await this.request(this.session(host, n.credentials), headers, this.body(n.payload));
    } catch (error) {
      return { outcome: 'retry', reason: `APNs unreachable: ${(error as Error).message}` };
    }
    if (answer.status === 200) return { outcome: 'sent' };
    let reason = '';
    try {
      reason = String((JSON.parse(answer.body) as { reason?: string }).reason ?? '');
    } catch {}
    if (answer.status === 410 || DEAD.has(reason)) return { outcome: 'dead', reason: reason || 'Unregistered' };
    if (answer.status === 403 && (reason === 'ExpiredProviderToken' || reason === 'InvalidProviderToken')) {
      if (n.credentials.kind === 'token') this.tokens.delete(tokenKey(n.credentials));
      return { outcome: reason === 'ExpiredProviderToken' ? 'retry' : 'failed', reason };
    }
    if (answer.status === 429 || answer.status >= 500) {
      const seconds = Number(answer.retryAfter);
      return {
        outcome: 'retry',
        reason: reason || `HTTP ${answer.status}`,
        ...(seconds > 0 ? { retryAfterMs: seconds * 1000 } : {}),
      };
    }
    return { outcome: 'failed', reason: reason || `HTTP ${answer.status}` };
  }

  /** The pushes of one event share their payload object: serialised once, not once per device. */
  private readonly bodies = new WeakMap<object, string>();

  private body(payload: Record<string, unknown>): string {
    let body = this.bodies.get(payload);
    if (body === undefined) {
      body = JSON.stringify(payload);
      this.bodies.set(payload, body);
    }
    return body;
  }

  async close(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.sessions.clear();
  }

  /** The ES256 provider token for a .p8 key, reused until it nears Apple's one-hour limit. */
  private async providerToken(credentials: Extract<ApnsCredentials, { kind: 'token' }>): Promise<string> {
    const key = tokenKey(credentials);
    const cached = this.tokens.get(key);
    const now = this.now();
    if (cached && now - cached.issuedAt < TOKEN_TTL_MS) return cached.jwt;
    const signingKey = await importPKCS8(credentials.privateKey, 'ES256');
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: credentials.keyId })
      .setIssuer(credentials.teamId)
      .setIssuedAt(Math.floor(now / 1000))
      .sign(signingKey);
    this.tokens.set(key, { jwt, issuedAt: now });
    return jwt;
  }

  private session(host: string, credentials: ApnsCredentials): http2.ClientHttp2Session {
    const key = credentials.kind === 'certificate' ? `${host}\n${credentials.cert}` : host;
    const existing = this.sessions.get(key);
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const session = http2.connect(host, {
      ...(this.ca ? { ca: this.ca } : {}),
      ...(credentials.kind === 'certificate'
        ? { cert: credentials.cert, key: credentials.key, passphrase: credentials.passphrase }
        : {}),
    });
    session.on('error', () => this.sessions.delete(key));
    session.on('close', () => this.sessions.delete(key));
    session.unref();
    this.sessions.set(key, session);
    return session;
  }

  private request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body: string) {
    return new Promise<{ status: number; body: string; retryAfter?: string }>((resolve, reject) => {
      const stream = session.request(headers);
      stream.setTimeout(TIMEOUT_MS, () => stream.close(http2.constants.NGHTTP2_CANCEL));
      let status = 0;
      let retryAfter: string | undefined;
      const chunks: Buffer[] = [];
      stream.on('response', (h) => {
        status = Number(h[':status']);
        retryAfter = typeof h['retry-after'] === 'string' ? h['retry-after'] : undefined;
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () =>
        status ? resolve({ status, body: Buffer.concat(chunks).toString('utf8'), retryAfter }) : reject(new Error('no answer')),
      );
      stream.on('error', reject);
      stream.on('close', () => {
        if (!status) reject(new Error('stream closed without an answer'));
      });
      stream.end(body);
    });
  }
}

function tokenKey(credentials: { keyId: string; teamId: string }): string {
  return `${credentials.teamId}.${credentials.keyId}`;
}
