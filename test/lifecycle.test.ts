import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accepts, freePort, jsonLine, removeDir, runCli, type Spawned, spawnServer, tempDir } from './helpers/process.js';
import { type AppCredentials, sessionForm } from './helpers/signature.js';

// The real server process (`node dist/cli.js serve`) as an operator runs it: first start, restart, shutdown.

interface Banner {
  password: string | undefined;
  demo: (AppCredentials & { account_key: string }) | undefined;
  generatedCert: string | undefined;
  trustedCert: string | undefined;
  snippet: { id: number; authKey: string; authSecret: string; api: string; chat: string } | undefined;
}

/** What the start-up banner told the operator. */
function parseBanner(stdout: string): Banner {
  const field = (name: string) => stdout.match(new RegExp(`^ {2}${name}: +(\\S+)$`, 'm'))?.[1];
  const demoShown = stdout.includes('Application "Demo"');
  const snippet = stdout.match(
    /^ {2}QB\.init\((\d+), '([^']+)', '([^']+)', \{ endpoints: \{ api: '([^']+)', chat: '([^']+)' \} \}\);$/m,
  );
  return {
    password: stdout.match(/Its password, shown only this once: (\S+)$/m)?.[1],
    demo: demoShown
      ? {
          application_id: Number(field('application_id')),
          auth_key: field('auth_key') as string,
          auth_secret: field('auth_secret') as string,
          account_key: field('account_key') as string,
        }
      : undefined,
    generatedCert: stdout.match(/^Generated a self-signed certificate: (.+)$/m)?.[1],
    trustedCert: stdout.match(/NODE_EXTRA_CA_CERTS=(.+)$/m)?.[1],
    snippet: snippet
      ? {
          id: Number(snippet[1]),
          authKey: snippet[2] as string,
          authSecret: snippet[3] as string,
          api: snippet[4] as string,
          chat: snippet[5] as string,
        }
      : undefined,
  };
}

// The last line of the banner: the QB.init snippet on a first start, the app list hint afterwards.
const BANNER_END = /^ {2}QB\.init\(|^Applications: /;

describe('the server process', () => {
  let dataDir: string;
  let port: number;
  let settings: Record<string, string>;
  let server: Spawned;
  let demo: AppCredentials & { account_key: string };
  let certPath: string;
  let cert: string;
  let dispatcher: Agent;

  const url = (path: string) => `https://127.0.0.1:${port}${path}`;

  async function createSession(app: AppCredentials) {
    const response = await request(url('/session.json'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(sessionForm(app, Date.now())).toString(),
      dispatcher,
    });
    return { status: response.statusCode, json: (await response.body.json()) as any };
  }

  beforeAll(async () => {
    dataDir = tempDir();
    port = await freePort();
    settings = { SWITCHBOARD_DATA: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' };
  });
  // Every process started here, so that a failed test leaves none behind.
  const started: Spawned[] = [];
  function start(): Spawned {
    const child = spawnServer(settings);
    started.push(child);
    return child;
  }
  afterAll(async () => {
    await Promise.all(started.map((child) => child.kill()));
    await dispatcher?.close();
    removeDir(dataDir);
  });

  it('first start on an empty data folder prints the owner password, the Demo application, the certificate and QB.init', async () => {
    server = start();
    await server.waitForLine(BANNER_END);
    const banner = parseBanner(server.stdout);

    expect(server.stdout).toContain(`Switchboard is listening on https://127.0.0.1:${port} (sqlite)`);
    expect(banner.password).toMatch(/^\S{12,}$/);
    expect(server.stdout).toContain('Created the owner account owner@localhost.');

    expect(banner.demo).toBeDefined();
    demo = banner.demo as AppCredentials & { account_key: string };
    expect(Number.isSafeInteger(demo.application_id)).toBe(true);
    expect(demo.auth_key).toMatch(/^\S{8,}$/);
    expect(demo.auth_secret).toMatch(/^\S{8,}$/);
    expect(demo.account_key).toMatch(/^\S{8,}$/);

    certPath = join(dataDir, 'tls', 'cert.pem');
    expect(banner.generatedCert).toBe(certPath);
    expect(banner.trustedCert).toBe(certPath);
    cert = readFileSync(certPath, 'utf8');
    expect(cert).toContain('-----BEGIN CERTIFICATE-----');

    // The snippet carries the same credentials and endpoints the SDK can use as they are (no scheme, no account key).
    expect(banner.snippet).toEqual({
      id: demo.application_id,
      authKey: demo.auth_key,
      authSecret: demo.auth_secret,
      api: `127.0.0.1:${port}`,
      chat: '127.0.0.1',
    });
    expect(server.stdout).not.toMatch(/QB\.init\([^)]*account/i);
    expect(server.stderr).toBe('');
  });

  it('creates a session for the printed Demo credentials over HTTPS, trusting the printed certificate', async () => {
    dispatcher = new Agent({ connect: { ca: readFileSync(certPath, 'utf8') } });
    const created = await createSession(demo);
    expect(created.status).toBe(201);
    expect(created.json.session).toMatchObject({ application_id: demo.application_id, user_id: 0 });
    expect(created.json.session.token).toMatch(/^[0-9a-f]{40}$/);

    // The token works on the next request.
    const read = await request(url('/session.json'), { headers: { 'QB-Token': created.json.session.token }, dispatcher });
    expect(read.statusCode).toBe(200);
    expect(((await read.body.json()) as any).session.token).toBe(created.json.session.token);
  });

  it('is not trusted without the certificate', async () => {
    const untrusting = new Agent();
    try {
      const failure = await request(url('/health/live'), { dispatcher: untrusting }).then(
        () => null,
        (error: Error & { cause?: { code?: string } }) => error,
      );
      expect(failure).not.toBeNull();
      const code = (failure?.cause as { code?: string } | undefined)?.code ?? (failure as { code?: string } | null)?.code;
      expect(code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|DEPTH_ZERO/);
    } finally {
      await untrusting.close();
    }
  });

  it('answers GET /health/ready and /health/live with 200 while running', async () => {
    for (const path of ['/health/ready', '/health/live']) {
      const response = await request(url(path), { dispatcher });
      expect(response.statusCode).toBe(200);
      expect(await response.body.json()).toEqual({ status: 'ok' });
    }
  });

  it('stops with exit code 0 on SIGTERM', async () => {
    const running = server;
    running.child.kill('SIGTERM');
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(await accepts(port)).toBe(false);
  });

  it('a second start on the same folder creates no other owner or Demo application and reuses the certificate', async () => {
    server = start();
    await server.waitForLine(BANNER_END);
    const banner = parseBanner(server.stdout);

    expect(server.stdout).toContain(`Switchboard is listening on https://127.0.0.1:${port} (sqlite)`);
    expect(banner.password).toBeUndefined();
    expect(server.stdout).not.toContain('password');
    expect(server.stdout).not.toContain('Created the owner account');
    expect(banner.demo).toBeUndefined();
    expect(banner.snippet).toBeUndefined();
    expect(server.stdout).toContain('Applications: bin/switchboard app list');

    // The same certificate file, unchanged, still named for clients to trust.
    expect(banner.generatedCert).toBeUndefined();
    expect(banner.trustedCert).toBe(certPath);
    expect(readFileSync(certPath, 'utf8')).toBe(cert);

    // Clients that trust the first certificate and hold the Demo credentials carry on.
    expect((await createSession(demo)).status).toBe(201);

    // Still exactly one application (asked through the CLI, beside the running server).
    const apps = jsonLine(await runCli(['app', 'list', '--json'], { SWITCHBOARD_DATA: dataDir, LOG_LEVEL: 'silent' }));
    expect(apps).toEqual([{ name: 'Demo', ...demo }]);
  });

  it('a second server on a port in use exits with an error and leaves the first one running', async () => {
    const second = start();
    const exit = await second.exited;
    expect(exit.code).not.toBe(0);
    expect(second.stderr + second.stdout).toMatch(/EADDRINUSE/);
    expect((await request(url('/health/ready'), { dispatcher })).statusCode).toBe(200);
  });

  it('finishes a request in flight on SIGTERM, then exits with code 0', async () => {
    const running = server;
    const body = new URLSearchParams(sessionForm(demo, Date.now())).toString();
    const half = Math.floor(body.length / 2);
    // A keep-alive client, as browsers and Node's own global agent are.
    const agent = new https.Agent({ keepAlive: true, ca: cert });
    try {
      const outgoing = https.request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/session.json',
        agent,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': String(Buffer.byteLength(body)),
          // The server answers 100 Continue once it has read the headers: the request is then surely in flight.
          expect: '100-continue',
        },
      });
      const answer = new Promise<{ status: number; headers: Record<string, unknown>; text: string }>((resolve, reject) => {
        outgoing.once('error', reject);
        outgoing.once('response', (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            text += chunk;
          });
          response.once('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }));
          response.once('error', reject);
        });
      });
      await new Promise<void>((resolve) => outgoing.once('continue', () => resolve()));
      await new Promise<void>((resolve, reject) =>
        outgoing.write(body.slice(0, half), (error) => (error ? reject(error) : resolve())),
      );

      running.child.kill('SIGTERM');
      await running.waitForLine(/shutting down/);
      // Shutdown is under way once the listener is gone: new connections are refused.
      while (await accepts(port)) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(running.running).toBe(true);

      outgoing.end(body.slice(half));
      const response = await answer;
      expect(response.status).toBe(201);
      expect(JSON.parse(response.text).session).toMatchObject({ application_id: demo.application_id, user_id: 0 });
      // The connection is not kept for further requests: the server is going away.
      expect(response.headers.connection).toBe('close');

      expect(await running.exited).toEqual({ code: 0, signal: null });
      expect(running.stderr).toBe('');
      expect(running.stdout).not.toMatch(/"level":(50|60)/);
    } finally {
      agent.destroy();
    }
  });

  it('stops with exit code 0 on SIGINT too, and the data survives', async () => {
    server = start();
    await server.waitForLine(BANNER_END);
    expect((await createSession(demo)).status).toBe(201);
    server.child.kill('SIGINT');
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });
});
