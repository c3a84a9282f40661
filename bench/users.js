// `npm run bench:users`: the Users API against the same node:http baseline.
//
// Imports BENCH_USERS (1,000,000) users into one application and 1,000 into
// another with `switchboard user import` (its rate is reported), then loads:
//   GET /users/{id}.json with a user token            goal >= 0.4x baseline
//   the same filtered, ordered GET /users.json page
//     over 1,000 users and over BENCH_USERS users     goal: cost at most 2x
//   sign-ups (POST /users.json) and user logins (POST /session.json): rates
// Same pinning, knobs and clean-up as run.js (see bench/lib.js).

import { once } from 'node:events';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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
  run,
  runScenarios,
  serveCommand,
  signedSession,
  startBaseline,
  state,
  switchboardSetup,
  waitFor,
} from './lib.js';

const knobs = {
  ...loadKnobs(),
  users: positive('BENCH_USERS', 1_000_000),
};
const outFile = resolve(ROOT, process.env.BENCH_OUT ?? 'bench/results/users-latest.json');
const PASSWORD = 'bench-password-1';

/** Writes `count` users as JSON lines, ids from `firstId`, logins user-0000001 ... */
async function writeUsers(file, firstId, count) {
  const out = createWriteStream(file);
  for (let i = 0; i < count; i++) {
    const n = String(i).padStart(7, '0');
    const line = `{"id":${firstId + i},"login":"user-${n}","full_name":"User ${n}","tag_list":"t${i % 50}"}\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

function importUsers(env, appId, file) {
  const started = process.hrtime.bigint();
  const output = run(
    process.execPath,
    [join(ROOT, 'bin/switchboard'), 'user', 'import', '--app', String(appId), file, '--require-password-reset'],
    env,
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, summary: output.trim().split('\n').at(-1) };
}

async function main() {
  const pin = pinning();
  const info = machine();
  console.log(`Switchboard users benchmark: ${info.nproc} cores, ${info.cpu}, node ${info.node}`);
  console.log(pin.note);
  console.log(`${knobs.connections} connections, ${knobs.warmupSeconds} s warm-up + ${knobs.seconds} s per scenario\n`);

  const { dataDir, port, env, cli } = await switchboardSetup('users');
  const small = lastJson(cli('app', 'create', '--name', 'thousand', '--json'));
  const large = lastJson(cli('app', 'create', '--name', 'million', '--json'));

  process.stdout.write(`writing ${fmt(knobs.users)} users as JSON lines ... `);
  const smallFile = join(dataDir, 'small.jsonl');
  const largeFile = join(dataDir, 'large.jsonl');
  await writeUsers(smallFile, 1, 1000);
  await writeUsers(largeFile, 10_000_001, knobs.users);
  console.log('done');
  importUsers(env, small.application_id, smallFile);
  process.stdout.write(`user import of ${fmt(knobs.users)} users (CLI, SQLite) ... `);
  const imported = importUsers(env, large.application_id, largeFile);
  const importRate = knobs.users / imported.seconds;
  console.log(`${fmt(imported.seconds, 1)} s, ${fmt(importRate)} users/s (${imported.summary})`);
  const member = lastJson(
    cli('user', 'create', '--app', String(small.application_id), '--login', 'bench-member', '--password', PASSWORD, '--json'),
  );

  const { baseline, baselineUrl } = await startBaseline(pin);
  const server = launch(pin, 0, serveCommand(), env, 'switchboard');
  const url = `http://${HOST}:${port}`;
  await waitFor(`${url}/health/ready`, server);

  const userToken = (await signedSession(url, small, { 'user[login]': 'bench-member', 'user[password]': PASSWORD })).token;
  const smallToken = (await signedSession(url, small)).token;
  const largeToken = (await signedSession(url, large)).token;
  const listPath = `/users.json?filter[]=${encodeURIComponent('string login ge user-0000500')}&order=${encodeURIComponent('asc string login')}&per_page=10`;

  const scenarios = [
    baselineScenario(baseline, baselineUrl),
    {
      id: 'get-user',
      label: 'GET /users/{id}.json (user token)',
      spec: { url, path: `/users/${member.user.id}.json`, headers: { 'QB-Token': userToken }, expectedStatus: [200] },
    },
    {
      id: 'list-1k',
      label: 'GET /users.json filtered+ordered, 1,000 users',
      spec: { url, path: listPath, headers: { 'QB-Token': smallToken }, expectedStatus: [200] },
    },
    {
      id: 'list-large',
      label: `GET /users.json filtered+ordered, ${fmt(knobs.users)} users`,
      spec: { url, path: listPath, headers: { 'QB-Token': largeToken }, expectedStatus: [200] },
    },
    {
      id: 'sign-up',
      label: 'POST /users.json (sign-up, argon2id)',
      spec: {
        url,
        path: '/users.json',
        kind: 'sign-up',
        headers: { 'QB-Token': smallToken },
        password: PASSWORD,
        expectedStatus: [201],
      },
    },
    {
      id: 'login',
      label: 'POST /session.json (user login, argon2id)',
      spec: {
        url,
        path: '/session.json',
        kind: 'create-session',
        app: small,
        extra: { 'user[login]': 'bench-member', 'user[password]': PASSWORD },
        expectedStatus: [201],
      },
    },
  ];

  const results = await runScenarios(pin, knobs, scenarios, server.pid);

  const by = (id) => results.find((r) => r.id === id);
  const listCost = by('list-large').serverCpuMicrosPerRequest / by('list-1k').serverCpuMicrosPerRequest;
  const goals = [
    {
      label: 'GET /users/{id}.json >= 0.4x baseline',
      value: `${fmt(by('get-user').ratio, 2)}x`,
      pass: by('get-user').ratio >= 0.4 && by('get-user').unexpected === 0,
    },
    {
      label: `list page over ${fmt(knobs.users)} users costs <= 2x the page over 1,000 (server CPU per request)`,
      value: `${fmt(listCost, 2)}x`,
      pass: listCost <= 2 && by('list-large').unexpected === 0,
    },
    {
      label: `import of ${fmt(knobs.users)} users finishes`,
      value: `${fmt(importRate)} users/s`,
      pass: imported.summary.includes(`imported ${knobs.users} `),
    },
  ];
  console.log('\nGoals (reported, not enforced):');
  for (const goal of goals) console.log(`  ${goal.pass ? 'PASS' : 'FAIL'}  ${goal.label}  (measured ${goal.value})`);
  console.log(
    `Rates: sign-up ${fmt(by('sign-up').requestsPerSecond)}/s, login ${fmt(by('login').requestsPerSecond)}/s (both bound by argon2id).`,
  );

  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    `${JSON.stringify({ date: new Date().toISOString(), revision: revision(), machine: info, method: { pinning: pin.note, ...knobs }, import: { users: knobs.users, seconds: round1(imported.seconds), usersPerSecond: Math.round(importRate) }, scenarios: results, goals }, null, 2)}\n`,
  );
  console.log(`\nWrote ${outFile.startsWith(ROOT) ? outFile.slice(ROOT.length + 1) : outFile}`);
}

try {
  await main();
} catch (error) {
  if (!state.interrupted) console.error(`\nbenchmark failed: ${error instanceof Error ? error.message : error}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
