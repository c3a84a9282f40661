import http from 'node:http';
import https from 'node:https';
import { importPKCS8, SignJWT } from 'jose';
import type { DeliveryResult, FcmCredentials, FcmNotification, PushGateway } from './types.js';

const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const DEFAULT_TOKEN_URI = 'https://oauth2.googleapis.com/token';
const TIMEOUT_MS = 10_000;

/** FCM HTTP v1 with a service-account OAuth token (JWT bearer grant), cached until shortly before it expires. */
export class FcmGateway implements PushGateway<FcmNotification> {
  readonly channel = 'fcm';
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();

  constructor(
    private readonly apiUrl: string,
    /** Overrides the service account's token_uri (tests, proxies). */
    private readonly tokenUrl: string | null,
    private readonly now: () => number = Date.now,
  ) {}

  async send(n: FcmNotification): Promise<DeliveryResult> {
    let answer: Answer;
    try {
      const token = await this.accessToken(n.credentials);
      answer = await this.post(
        `${this.apiUrl}/v1/projects/${encodeURIComponent(n.credentials.projectId)}/messages:send`,
        `Bearer ${token}`,
        JSON.stringify({
          message: {
            token: n.token,
            data: n.data,
            android: { priority: 'high', ...(n.collapseKey ? { collapse_key: n.collapseKey } : {}) },
          },
        }),
      );
    } catch (error) {
      if (error instanceof TokenRefused) return { outcome: 'failed', reason: error.message };
      return { outcome: 'retry', reason: `FCM unreachable: ${(error as Error).message}` };
    }
    if (answer.status >= 200 && answer.status < 300) return { outcome: 'sent' };
    const code = errorCode(answer.body);
    if (code === 'UNREGISTERED' || answer.status === 404) return { outcome: 'dead', reason: code || 'UNREGISTERED' };
    if (answer.status === 401) {
      this.tokens.delete(n.credentials.clientEmail);
      return { outcome: 'retry', reason: 'access token refused' };
    }
    if (answer.status === 429 || answer.status >= 500) {
      const seconds = Number(answer.retryAfter);
      return {
        outcome: 'retry',
        reason: code || `HTTP ${answer.status}`,
        ...(seconds > 0 ? { retryAfterMs: seconds * 1000 } : {}),
      };
    }
    return { outcome: 'failed', reason: code || `HTTP ${answer.status}` };
  }

  async close(): Promise<void> {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /**
   * One push: node:http(s) over keep-alive connections rather than fetch, whose
   * web streams, body tee and abort signals cost several times the allocation
   * per request (most of the garbage of a large send, and so of its RSS).
   */
  private post(url: string, authorization: string, body: string): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      const secure = url.startsWith('https:');
      const request = (secure ? https : http).request(
        url,
        {
          method: 'POST',
          agent: secure ? this.agents.https : this.agents.http,
          headers: { authorization, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          timeout: TIMEOUT_MS,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const retryAfter = response.headers['retry-after'];
            resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), retryAfter });
          });
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error('timed out')));
      request.on('error', reject);
      request.end(body);
    });
  }

  private readonly agents = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true }),
  };

  /** Token requests in flight: the first pushes of a big send share one instead of each asking Google. */
  private readonly fetching = new Map<string, Promise<string>>();

  private accessToken(credentials: FcmCredentials): Promise<string> {
    const cached = this.tokens.get(credentials.clientEmail);
    if (cached && cached.expiresAt - 60_000 > this.now()) return Promise.resolve(cached.token);
    let pending = this.fetching.get(credentials.clientEmail);
    if (!pending) {
      pending = this.fetchToken(credentials).finally(() => this.fetching.delete(credentials.clientEmail));
      this.fetching.set(credentials.clientEmail, pending);
    }
    return pending;
  }

  private async fetchToken(credentials: FcmCredentials): Promise<string> {
    const now = this.now();
    const audience = this.tokenUrl ?? credentials.tokenUri ?? DEFAULT_TOKEN_URI;
    const issuedAt = Math.floor(now / 1000);
    const assertion = await new SignJWT({ scope: SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuer(credentials.clientEmail)
      .setAudience(audience)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + 3600)
      .sign(await importPKCS8(credentials.privateKey, 'RS256'));
    const response = await fetch(audience, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const body = (await response.json().catch(() => ({}))) as { access_token?: string; expires_in?: number };
    if (response.status >= 400 && response.status < 500)
      throw new TokenRefused(`token endpoint refused: HTTP ${response.status}`);
    if (!response.ok || !body.access_token) throw new Error(`token endpoint answered HTTP ${response.status}`);
    this.tokens.set(credentials.clientEmail, { token: body.access_token, expiresAt: now + (body.expires_in ?? 3600) * 1000 });
    return body.access_token;
  }
}

class TokenRefused extends Error {}

interface Answer {
  status: number;
  body: string;
  retryAfter: string | undefined;
}

/** The FcmError code in an FCM v1 error body (details[].errorCode), else its status. */
function errorCode(text: string): string {
  try {
    const error = (JSON.parse(text) as { error?: { status?: string; details?: Array<{ errorCode?: string }> } }).error;
    return error?.details?.find((d) => d.errorCode)?.errorCode ?? error?.status ?? '';
  } catch {
    return '';
  }
}
