import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, jsonLine, removeDir, runCli, type Spawned, spawnServer, tempDir } from '../../helpers/process.js';
import { type FcmStandIn, startFcm } from '../../helpers/push-gateways.js';
import { createPostgresDatabase } from '../../helpers/server.js';

const EVENTS = 40;
const ROUNDS = 3;

/**
 * Two real `switchboard serve` processes on one PostgreSQL database, each
 * running its own scheduler timer: every occurrence of every event reaches
 * the FCM stand-in exactly once. Processes keep real time, so a new
 * occurrence is made due by moving next_run_at in the database, as the
 * passing of a period would.
 */
describe('push scheduling across two server processes on one PostgreSQL', () => {
  let database: { url: string; drop(): Promise<void> };
  let fcm: FcmStandIn;
  let sql: pg.Client;
  const dirs: string[] = [];
  const processes: Spawned[] = [];
  let settings: Record<string, string>;
  let base = '';

  beforeAll(async () => {
    database = await createPostgresDatabase();
    // Slow answers make one occurrence batch outlast a scheduler tick, so both processes claim from it.
    fcm = await startFcm({ delayMs: 15 });
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    settings = {
      DATABASE_URL: database.url,
      TLS: 'off',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      FCM_URL: fcm.url,
      FCM_TOKEN_URL: fcm.tokenUrl,
      PUSH_CREDENTIALS_KEY: 'ef'.repeat(32),
    };
  });
  afterAll(async () => {
    await Promise.all(processes.map((child) => child.kill()));
    await sql?.end();
    await fcm?.close();
    await database?.drop();
    for (const dir of dirs) removeDir(dir);
  });

  async function start(): Promise<string> {
    const dir = tempDir();
    dirs.push(dir);
    const port = await freePort();
    const child = spawnServer({ ...settings, SWITCHBOARD_DATA: dir, PORT: String(port) });
    processes.push(child);
    await child.waitForLine(/listening on/);
    return `http://127.0.0.1:${port}`;
  }

  /** Polls the database (not a clock) until the condition holds; fails after a generous deadline. */
  async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
    const deadline = Date.now() + 45_000;
    for (;;) {
      const value = await probe();
      if (done(value)) return value;
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}: ${JSON.stringify(value)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('delivers every occurrence exactly once, both processes claiming', { timeout: 120_000 }, async () => {
    // The first process migrates the empty database; the second starts on the migrated one.
    base = await start();
    const second = await start();
    const cli = (args: string[]) => runCli(args, { ...settings, SWITCHBOARD_DATA: dirs[0] as string });
    const { application_id: appId } = jsonLine(await cli(['app', 'create', '--name', 'Race', '--json']));
    const { api_key: apiKey } = jsonLine(await cli(['apikey', 'create', '--app', String(appId), '--json']));
    const accountFile = join(dirs[0] as string, 'service-account.json');
    writeFileSync(accountFile, JSON.stringify(fcm.serviceAccount));
    expect((await cli(['push', 'credentials', '--app', String(appId), '--fcm-service-account', accountFile])).code).toBe(0);
    const { user } = jsonLine(
      await cli(['user', 'create', '--app', String(appId), '--login', 'racer', '--password', 'password-1', '--json']),
    );

    const call = async (url: string, method: string, path: string, body: unknown, asUser = false) => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `ApiKey ${apiKey}`,
          'content-type': 'application/json',
          ...(asUser ? { 'on-behalf-of': String(user.id) } : {}),
        },
        body: JSON.stringify(body),
      });
      return { status: response.status, json: (await response.json()) as any };
    };
    const subscribed = await call(
      second,
      'POST',
      '/subscriptions.json',
      {
        notification_channel: 'gcm',
        device: { platform: 'android', udid: 'racer-phone' },
        push_token: { environment: 'production', client_identification_sequence: 'racer-fcm' },
      },
      true,
    );
    expect(subscribed.status).toBe(201);
    const tomorrow = Math.floor(Date.now() / 1000) + 86400;
    const ids: number[] = [];
    for (let i = 0; i < EVENTS; i++) {
      const created = await call(i % 2 ? base : second, 'POST', '/events.json', {
        event: {
          notification_type: 'push',
          push_type: 'gcm',
          environment: 'production',
          event_type: 'period_date',
          date: tomorrow,
          period: 86400,
          user: { ids: String(user.id) },
          message: Buffer.from(`race-${i}`).toString('base64'),
        },
      });
      expect(created.status).toBe(200);
      ids.push(created.json.event.id);
    }

    const runs = () =>
      sql
        .query('select claimed_by, finished_at from push_event_runs where event_id = any($1)', [ids])
        .then((result) => result.rows as Array<{ claimed_by: string; finished_at: string | null }>);
    for (let round = 1; round <= ROUNDS; round++) {
      // A period passes: every event's next occurrence is due now.
      await sql.query('update push_events set next_run_at = $1 where id = any($2)', [Date.now(), ids]);
      await until(
        runs,
        (rows) => rows.length >= EVENTS * round && rows.every((row) => row.finished_at !== null),
        `round ${round}`,
      );
    }

    expect(await runs()).toHaveLength(EVENTS * ROUNDS);
    const delivered = fcm.pushes.filter((p) => p.token === 'racer-fcm').map((p) => p.body.message.data.message);
    expect(delivered).toHaveLength(EVENTS * ROUNDS);
    for (let i = 0; i < EVENTS; i++) expect(delivered.filter((m) => m === `race-${i}`)).toHaveLength(ROUNDS);
    const claimers = new Set((await runs()).map((row) => row.claimed_by));
    expect(claimers.size).toBe(2);

    const events = await sql.query('select occured_count, next_run_at, sent_count from push_events where id = any($1)', [ids]);
    for (const row of events.rows) {
      expect(Number(row.occured_count)).toBe(ROUNDS);
      expect(Number(row.sent_count)).toBe(ROUNDS);
      expect(Number(row.next_run_at)).toBeGreaterThan(Date.now());
    }
    const status = await call(base, 'GET', `/events/${ids[0]}/status.json`, undefined);
    expect(status.json.event).toMatchObject({ occured_count: ROUNDS, sent_count: ROUNDS, active: true });
  });
});
