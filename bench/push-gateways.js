// Loopback APNs (HTTP/2) and FCM HTTP v1 stand-ins for bench/push.js: the
// same checks as test/helpers/push-gateways.ts (provider token signature,
// topic and push type, OAuth access token, payload shape), but they only
// count what arrives, so that 100,000 pushes cost them no memory.
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import { importSPKI, jwtVerify } from 'jose';

// Unreferenced: the bench exits when its work is done, whatever connections the server left open.
const listen = (server) =>
  new Promise((done) =>
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      done(server.address().port);
    }),
  );

export async function startApns() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyId = 'BENCH12345';
  const teamId = 'TEAM654321';
  const verifyKey = await importSPKI(publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'ES256');
  // A provider token is verified once; Apple too caches it for its lifetime.
  const verified = new Set();
  const stats = { received: 0, refused: 0, sessions: 0 };
  const server = http2.createServer();
  server.on('session', () => stats.sessions++);
  server.on('stream', (stream, headers) => {
    let bytes = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      bytes += chunk;
    });
    stream.on('end', async () => {
      const answer = (status, reason) => {
        if (status !== 200) stats.refused++;
        stream.respond({ ':status': status });
        stream.end(reason ? JSON.stringify({ reason }) : undefined);
      };
      if (!/^\/3\/device\/[0-9a-f]+$/.test(headers[':path'])) return answer(400, 'BadDeviceToken');
      const jwt = String(headers.authorization ?? '').replace(/^bearer /, '');
      if (!verified.has(jwt)) {
        try {
          await jwtVerify(jwt, verifyKey, { issuer: teamId, algorithms: ['ES256'] });
          verified.add(jwt);
        } catch {
          return answer(403, 'InvalidProviderToken');
        }
      }
      const voip = headers['apns-push-type'] === 'voip';
      if (!headers['apns-topic'] || voip !== String(headers['apns-topic']).endsWith('.voip')) return answer(400, 'BadTopic');
      try {
        if (typeof JSON.parse(bytes).aps !== 'object') return answer(400, 'PayloadEmpty');
      } catch {
        return answer(400, 'PayloadEmpty');
      }
      stats.received++;
      answer(200);
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    keyId,
    teamId,
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    stats,
    close: () => new Promise((done) => server.close(() => done())),
  };
}

export async function startFcm() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const verifyKey = await importSPKI(publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'RS256');
  const projectId = 'bench-project';
  const clientEmail = 'bench@bench-project.iam.gserviceaccount.com';
  const accessTokens = new Set();
  const stats = { received: 0, refused: 0, tokenRequests: 0 };
  let base = '';
  const server = http.createServer((request, response) => {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk) => {
      text += chunk;
    });
    request.on('end', async () => {
      const json = (status, body) => {
        if (status !== 200) stats.refused++;
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      };
      if (request.url === '/token') {
        stats.tokenRequests++;
        try {
          await jwtVerify(new URLSearchParams(text).get('assertion') ?? '', verifyKey, {
            issuer: clientEmail,
            audience: `${base}/token`,
          });
        } catch {
          return json(400, { error: 'invalid_grant' });
        }
        const token = `ya29.bench${accessTokens.size}`;
        accessTokens.add(token);
        return json(200, { access_token: token, expires_in: 3599 });
      }
      if (request.url !== `/v1/projects/${projectId}/messages:send`) return json(404, { error: { status: 'NOT_FOUND' } });
      if (!accessTokens.has(String(request.headers.authorization).replace(/^Bearer /, ''))) {
        return json(401, { error: { status: 'UNAUTHENTICATED' } });
      }
      try {
        const { message } = JSON.parse(text);
        if (!message.token || typeof message.data?.message !== 'string') throw new Error('no data');
      } catch {
        return json(400, { error: { status: 'INVALID_ARGUMENT' } });
      }
      stats.received++;
      json(200, { name: `projects/${projectId}/messages/${stats.received}` });
    });
  });
  const port = await listen(server);
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
    stats,
    close: () => new Promise((done) => server.close(() => done())),
  };
}
