// `npm run bench:push`: push notifications.
//
//   POST /subscriptions.json with a user token        goal >= 0.2x the node:http baseline
//   one universal event to BENCH_PUSH_USERS (100,000) subscribed users, half
//   APNs (HTTP/2) and half FCM (HTTP v1), delivered to loopback stand-ins
//   (bench/push-gateways.js)                          deliveries per second reported;
//                                                     server RSS grows < 100 MB during the send
// Users come in through `switchboard user import`, their subscriptions by
// direct SQL through the project's storage (dist/storage). Same pinning,
// knobs and clean-up as run.js (see bench/lib.js).

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { loadConfig } from '../dist/config.js';
import { openStorage } from '../dist/storage/db.js';
import {
  baselineScenario,
  cleanup,
  fmt,
  HOST,
  lastJson,
  launch,
  loadKnobs,
  machine,
  pinning,
  positive,
  ROOT,
  revision,
  round1,
  rssMb,
  runScenarios,
  serveCommand,
  signedSession,
  sleep,
  startBaseline,
  state,
  switchboardSetup,
  waitFor,
} from './lib.js';
import { startApns, startFcm } from './push-gateways.js';

const knobs = {
  ...loadKnobs(),
  users: positive('BENCH_PUSH_USERS', 100_000),
};
const outFile = resolve(ROOT, process.env.BENCH_OUT ?? 'bench/results/push-latest.json');
const PASSWORD = 'bench-password-1';
const BUNDLE = 'com.example.bench';

async function writeUsers(file, count) {
  const out = createWriteStream(file);
  for (let i = 1; i <= count; i++) {
    if (!out.write(`{"id":${i},"login":"push-${i}","tag_list":"bench"}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Every imported user gets one subscription: even ids an APNs device, odd ids an Android one. */
async function insertSubscriptions(env, applicationId, count) {
  const storage = openStorage(loadConfig(env, ROOT).database);
  const now = Date.now();
  try {
    for (let first = 1; first <= count; first += 1000) {
      const rows = [];
      for (let id = first; id < Math.min(first + 1000, count + 1); id++) {
        const apns = id % 2 === 0;
        rows.push({
          application_id: applicationId,
          user_id: id,
          channel: apns ? 'apns' : 'gcm',
          platform: apns ? 'ios' : 'android',
          udid: `device-${id}`,
          environment: 'production',
          bundle_identifier: BUNDLE,
          token: apns ? id.toString(16).padStart(64, '0') : `fcm-token-${id}`,
          created_at: now,
          updated_at: now,
        });
      }
      // SQLite caps bound parameters per statement; 100 rows x 10 columns stays under it.
      await storage.db.transaction().execute(async (trx) => {
        for (let at = 0; at < rows.length; at += 100) {
          await trx
            .insertInto('push_subscriptions')
            .values(rows.slice(at, at + 100))
            .execute();
        }
      });
    }
  } finally {
    await storage.close();
  }
}

async function main() {
  const pin = pinning();
  const info = machine();
  console.log(`Switchboard push benchmark: ${info.nproc} cores, ${info.cpu}, node ${info.node}`);
  console.log(pin.note);
  if (info.loadAverageAtStart > 0.5) {
    console.log(`Note: load average ${info.loadAverageAtStart} before starting: other work on this machine makes figures noisy.`);
  }

  const [apns, fcm] = await Promise.all([startApns(), startFcm()]);
  const { dataDir, port, env, cli } = await switchboardSetup('push', {
    PUSH_CREDENTIALS_KEY: randomBytes(32).toString('hex'),
    APNS_PRODUCTION_URL: apns.url,
    APNS_DEVELOPMENT_URL: apns.url,
    FCM_URL: fcm.url,
    FCM_TOKEN_URL: fcm.tokenUrl,
  });
  const app = lastJson(cli('app', 'create', '--name', 'push-bench', '--json'));
  const appId = String(app.application_id);
  const apiKey = lastJson(cli('apikey', 'create', '--app', appId, '--json')).api_key;
  const keyFile = join(dataDir, 'apns.p8');
  const accountFile = join(dataDir, 'service-account.json');
  writeFileSync(keyFile, apns.privateKey);
  writeFileSync(accountFile, JSON.stringify(fcm.serviceAccount));
  cli('push', 'credentials', '--app', appId, '--apns-key', keyFile, '--apns-key-id', apns.keyId, '--apns-team-id', apns.teamId);
  cli('push', 'credentials', '--app', appId, '--fcm-service-account', accountFile);

  let started = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(`importing ${fmt(knobs.users)} users (user import) ... `);
  const usersFile = join(dataDir, 'users.jsonl');
  await writeUsers(usersFile, knobs.users);
  cli('user', 'import', '--app', appId, usersFile, '--require-password-reset');
  const importSeconds = seconds();
  console.log(`${fmt(importSeconds, 1)} s`);
  started = process.hrtime.bigint();
  process.stdout.write(`inserting ${fmt(knobs.users)} subscriptions (SQL through dist/storage) ... `);
  await insertSubscriptions(env, app.application_id, knobs.users);
  const fillSeconds = seconds();
  console.log(`${fmt(fillSeconds, 1)} s`);
  cli('user', 'create', '--app', appId, '--login', 'bench-member', '--password', PASSWORD, '--json');

  const { baseline, baselineUrl } = await startBaseline(pin);
  const server = launch(pin, 0, serveCommand(), env, 'switchboard');
  const url = `http://${HOST}:${port}`;
  await waitFor(`${url}/health/ready`, server);
  const userToken = (await signedSession(url, app, { 'user[login]': 'bench-member', 'user[password]': PASSWORD })).token;

  const scenarios = [
    baselineScenario(baseline, baselineUrl),
    {
      id: 'subscribe',
      label: 'POST /subscriptions.json (user token)',
      spec: { url, path: '/subscriptions.json', kind: 'subscribe', headers: { 'QB-Token': userToken }, expectedStatus: [201] },
    },
  ];
  const results = await runScenarios(pin, knobs, scenarios, server.pid);
  await stopBaseline(baseline);

  // The send: one universal event to every imported user (tag "bench").
  await sleep(2000);
  const rssBefore = rssMb(server.pid);
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    const now = rssMb(server.pid);
    if (now !== null && now > rssPeak) rssPeak = now;
  }, 50);
  const load1Before = loadavg()[0];
  const message = Buffer.from(
    JSON.stringify({ message: 'Hello from the bench', ios_badge: 1, ios_sound: 'ping.wav', ref: '42' }),
  ).toString('base64');
  process.stdout.write(`one universal push to ${fmt(knobs.users)} users ... `);
  started = process.hrtime.bigint();
  const created = await fetch(`${url}/events.json`, {
    method: 'POST',
    headers: { authorization: `ApiKey ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      event: { notification_type: 'push', environment: 'production', user: { tags: { any: 'bench' } }, message },
    }),
  });
  const event = (await created.json()).event;
  if (created.status !== 200) throw new Error(`POST /events.json answered ${created.status}`);
  let status;
  for (;;) {
    const response = await fetch(`${url}/events/${event.id}/status.json`, { headers: { authorization: `ApiKey ${apiKey}` } });
    status = (await response.json()).event;
    if (status.sent_count + status.failed_count + status.removed_count >= knobs.users) break;
    if (seconds() > 600) throw new Error(`the send did not finish in 10 minutes: ${JSON.stringify(status)}`);
    await sleep(100);
  }
  const sendSeconds = seconds();
  clearInterval(sampler);
  const rssAfter = rssMb(server.pid);
  const deliveriesPerSecond = status.sent_count / sendSeconds;
  const send = {
    users: knobs.users,
    seconds: round1(sendSeconds),
    deliveriesPerSecond: Math.round(deliveriesPerSecond),
    sent: status.sent_count,
    failed: status.failed_count,
    removed: status.removed_count,
    standIns: {
      apnsReceived: apns.stats.received,
      apnsRefused: apns.stats.refused,
      fcmReceived: fcm.stats.received,
      fcmRefused: fcm.stats.refused,
      fcmTokenRequests: fcm.stats.tokenRequests,
    },
    rssMb: { before: rssBefore, peak: rssPeak, after: rssAfter, growth: round1(rssPeak - rssBefore) },
    loadAverage: { before: round1(load1Before), after: round1(loadavg()[0]) },
  };
  console.log(
    `${fmt(send.seconds, 1)} s, ${fmt(send.deliveriesPerSecond)} deliveries/s (sent ${fmt(send.sent)}, failed ${fmt(send.failed)}); APNs got ${fmt(apns.stats.received)}, FCM ${fmt(fcm.stats.received)}; RSS ${rssBefore} -> peak ${rssPeak} MB`,
  );

  const by = (id) => results.find((r) => r.id === id);
  const goals = [
    {
      label: 'POST /subscriptions.json >= 0.2x baseline',
      value: `${fmt(by('subscribe').ratio, 2)}x`,
      pass: by('subscribe').ratio >= 0.2 && by('subscribe').unexpected === 0,
    },
    {
      label: `universal push to ${fmt(knobs.users)} users: every push delivered`,
      value: `${fmt(apns.stats.received + fcm.stats.received)} received, ${fmt(deliveriesPerSecond)}/s`,
      pass: status.sent_count === knobs.users && apns.stats.received + fcm.stats.received === knobs.users,
    },
    {
      label: 'server RSS grows < 100 MB during the send',
      value: `+${fmt(send.rssMb.growth, 1)} MB`,
      pass: send.rssMb.growth < 100,
    },
  ];
  console.log('\nGoals (reported, not enforced):');
  for (const goal of goals) console.log(`  ${goal.pass ? 'PASS' : 'FAIL'}  ${goal.label}  (measured ${goal.value})`);

  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        revision: revision(),
        machine: info,
        method: { pinning: pin.note, ...knobs },
        fill: { importSeconds: round1(importSeconds), subscriptionSeconds: round1(fillSeconds) },
        scenarios: results,
        send,
        goals,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nWrote ${relative(ROOT, outFile)}`);
}

/** The baseline is only needed for the ratio; stopping it keeps core 0 to the server during the send. */
async function stopBaseline(child) {
  child.kill('SIGTERM');
  await once(child, 'exit');
}

try {
  await main();
} catch (error) {
  if (!state.interrupted) console.error(`\nbenchmark failed: ${error instanceof Error ? error.message : error}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
