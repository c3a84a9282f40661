import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { decodeProtectedHeader, importSPKI, jwtVerify } from 'jose';

/** How a stand-in answers pushes to a token. */
export type Behaviour = 'ok' | 'dead' | 'transient-once' | 'transient';

export interface ReceivedPush {
  token: string;
  headers: Record<string, string>;
  body: any;
}

export interface ApnsStandIn {
  /** http://127.0.0.1:PORT (HTTP/2 without TLS; https with options.tls), for APNS_*_URL. */
  url: string;
  keyId: string;
  teamId: string;
  /** The .p8 (PKCS#8 PEM) key the stand-in trusts. */
  privateKey: string;
  pushes: ReceivedPush[];
  /** Provider tokens seen, to check reuse. */
  jwts: Set<string>;
  /** The most pushes that were ever being answered at once. */
  readonly maxInFlight: number;
  behave(token: string, behaviour: Behaviour): void;
  close(): Promise<void>;
}

/**
 * APNs on loopback over HTTP/2: checks the ES256 provider token (signature,
 * kid, iss, iat), the topic and push type headers and the path, then answers
 * as Apple does (200, 410 Unregistered, 503 ServiceUnavailable).
 */
export interface ApnsOptions {
  /**
   * Serve HTTPS (HTTP/2 over TLS) with this server key and certificate and
   * ask for a client certificate: one signed by clientCa authenticates
   * (certificate auth) without a provider token.
   */
  tls?: { key: string; cert: string; clientCa: string };
}

export async function startApns(options: ApnsOptions = {}): Promise<ApnsStandIn> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyId = 'ABC123DEFG';
  const teamId = 'TEAM123456';
  const verifyKey = await importSPKI(publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'ES256');
  const pushes: ReceivedPush[] = [];
  const jwts = new Set<string>();
  const behaviours = new Map<string, Behaviour>();
  let inFlight = 0;
  const state = { maxInFlight: 0 };
  const server = options.tls
    ? http2.createSecureServer({
        key: options.tls.key,
        cert: options.tls.cert,
        ca: options.tls.clientCa,
        requestCert: true,
        rejectUnauthorized: false,
      })
    : http2.createServer();
  server.on('stream', (stream, headers) => {
    state.maxInFlight = Math.max(state.maxInFlight, ++inFlight);
    stream.once('close', () => inFlight--);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', async () => {
      const answer = (status: number, reason?: string) => {
        stream.respond({ ':status': status, 'content-type': 'application/json' });
        stream.end(reason ? JSON.stringify({ reason }) : undefined);
      };
      const path = String(headers[':path']);
      const match = /^\/3\/device\/([0-9a-f]+)$/.exec(path);
      if (headers[':method'] !== 'POST' || !match) return answer(404, 'BadPath');
      const auth = String(headers.authorization ?? '');
      const socket = stream.session?.socket as TLSSocket | undefined;
      const certified = Boolean(options.tls && socket?.authorized && socket.getPeerCertificate().subject);
      if (certified) {
        if (auth !== '') return answer(403, 'InvalidProviderToken');
      } else {
        if (!auth.startsWith('bearer ')) return answer(403, 'MissingProviderToken');
        const jwt = auth.slice(7);
        try {
          const header = decodeProtectedHeader(jwt);
          const { payload } = await jwtVerify(jwt, verifyKey, { issuer: teamId, algorithms: ['ES256'] });
          if (header.kid !== keyId || typeof payload.iat !== 'number') return answer(403, 'InvalidProviderToken');
        } catch {
          return answer(403, 'InvalidProviderToken');
        }
        jwts.add(jwt);
      }
      if (!headers['apns-topic']) return answer(400, 'MissingTopic');
      const pushType = String(headers['apns-push-type']);
      if (!['alert', 'background', 'voip'].includes(pushType)) return answer(400, 'InvalidPushType');
      // Apple's rules: VoIP pushes go to the .voip topic, background ones at priority 5.
      if ((pushType === 'voip') !== String(headers['apns-topic']).endsWith('.voip')) return answer(400, 'TopicDisallowed');
      if (pushType === 'background' && headers['apns-priority'] !== '5') return answer(400, 'BadPriority');
      const collapse = headers['apns-collapse-id'];
      if (collapse !== undefined && Buffer.byteLength(String(collapse)) > 64) return answer(400, 'BadCollapseId');
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return answer(400, 'PayloadEmpty');
      }
      const token = match[1] as string;
      const behaviour = behaviours.get(token) ?? 'ok';
      if (behaviour === 'dead') return answer(410, 'Unregistered');
      if (behaviour === 'transient' || behaviour === 'transient-once') {
        if (behaviour === 'transient-once') behaviours.set(token, 'ok');
        return answer(503, 'ServiceUnavailable');
      }
      const flat: Record<string, string> = {};
      for (const [k, v] of Object.entries(headers)) if (typeof v === 'string') flat[k] = v;
      pushes.push({ token, headers: flat, body });
      answer(200);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    keyId,
    teamId,
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    pushes,
    jwts,
    get maxInFlight() {
      return state.maxInFlight;
    },
    behave: (token, behaviour) => behaviours.set(token, behaviour),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface FcmStandIn {
  /** http://127.0.0.1:PORT, for FCM_URL. */
  url: string;
  /** Its OAuth token endpoint, for FCM_TOKEN_URL or a service account's token_uri. */
  tokenUrl: string;
  /** A service account JSON the stand-in trusts. */
  serviceAccount: { project_id: string; client_email: string; private_key: string; token_uri: string };
  pushes: ReceivedPush[];
  tokenRequests: number;
  /** The most requests that were ever being answered at once. */
  readonly maxInFlight: number;
  behave(token: string, behaviour: Behaviour): void;
  close(): Promise<void>;
}

/**
 * FCM HTTP v1 and Google's OAuth token endpoint on loopback: the token
 * endpoint checks the JWT-bearer assertion (RS256 signature, iss, aud,
 * scope); messages:send checks the access token and answers as FCM does
 * (200 with a name, 404 UNREGISTERED, 503 UNAVAILABLE).
 */
export interface FcmOptions {
  /** Answer each push this much later, so that a big send takes a while (scheduling races). */
  delayMs?: number;
}

export async function startFcm(options: FcmOptions = {}): Promise<FcmStandIn> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const verifyKey = await importSPKI(publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'RS256');
  const clientEmail = 'push@test-project.iam.gserviceaccount.com';
  const projectId = 'test-project';
  const accessTokens = new Set<string>();
  const behaviours = new Map<string, Behaviour>();
  const state = { pushes: [] as ReceivedPush[], tokenRequests: 0, maxInFlight: 0 };
  let base = '';
  let inFlight = 0;
  const server = http.createServer((request, response) => {
    state.maxInFlight = Math.max(state.maxInFlight, ++inFlight);
    response.once('close', () => inFlight--);
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const json = (status: number, body: unknown) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      };
      const fcmError = (status: number, code: string) =>
        json(status, {
          error: {
            code: status,
            status: code === 'UNREGISTERED' ? 'NOT_FOUND' : code,
            details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: code }],
          },
        });
      if (request.url === '/token') {
        state.tokenRequests++;
        const form = new URLSearchParams(text);
        if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
          return json(400, { error: 'unsupported_grant_type' });
        try {
          const { payload } = await jwtVerify(form.get('assertion') ?? '', verifyKey, {
            issuer: clientEmail,
            audience: `${base}/token`,
            algorithms: ['RS256'],
          });
          if (payload.scope !== 'https://www.googleapis.com/auth/firebase.messaging')
            return json(400, { error: 'invalid_scope' });
        } catch {
          return json(400, { error: 'invalid_grant' });
        }
        const token = `ya29.${Math.random().toString(36).slice(2)}`;
        accessTokens.add(token);
        return json(200, { access_token: token, expires_in: 3599, token_type: 'Bearer' });
      }
      if (request.url !== `/v1/projects/${projectId}/messages:send` || request.method !== 'POST')
        return json(404, { error: 'not found' });
      const bearer = String(request.headers.authorization ?? '').replace(/^Bearer /, '');
      if (!accessTokens.has(bearer)) return json(401, { error: { code: 401, status: 'UNAUTHENTICATED' } });
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        return fcmError(400, 'INVALID_ARGUMENT');
      }
      const token = String(body?.message?.token ?? '');
      const data = body?.message?.data;
      if (!token || typeof data !== 'object' || Object.values(data).some((v) => typeof v !== 'string')) {
        return fcmError(400, 'INVALID_ARGUMENT');
      }
      const android = body.message.android ?? {};
      if (android.collapse_key !== undefined && typeof android.collapse_key !== 'string')
        return fcmError(400, 'INVALID_ARGUMENT');
      if (android.priority !== undefined && !['high', 'normal'].includes(android.priority))
        return fcmError(400, 'INVALID_ARGUMENT');
      const behaviour = behaviours.get(token) ?? 'ok';
      if (behaviour === 'dead') return fcmError(404, 'UNREGISTERED');
      if (behaviour === 'transient' || behaviour === 'transient-once') {
        if (behaviour === 'transient-once') behaviours.set(token, 'ok');
        return fcmError(503, 'UNAVAILABLE');
      }
      if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(request.headers)) if (typeof v === 'string') headers[k] = v;
      state.pushes.push({ token, headers, body });
      json(200, { name: `projects/${projectId}/messages/${state.pushes.length}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}`;
  return {
    url: base,
    tokenUrl: `${base}/token`,
    serviceAccount: {
      project_id: projectId,
      client_email: clientEmail,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      token_uri: `${base}/token`,
    },
    get pushes() {
      return state.pushes;
    },
    get tokenRequests() {
      return state.tokenRequests;
    },
    get maxInFlight() {
      return state.maxInFlight;
    },
    behave: (token, behaviour) => behaviours.set(token, behaviour),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A self-signed TLS client certificate, as Apple issues for APNs certificate auth (clientAuth usage). */
export async function apnsClientCertificate(bundleId: string): Promise<{ key: string; cert: string }> {
  const { default: selfsigned } = await import('selfsigned');
  const pems = await selfsigned.generate([{ name: 'commonName', value: `Apple Push Services: ${bundleId}` }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true },
      { name: 'extKeyUsage', clientAuth: true },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}
