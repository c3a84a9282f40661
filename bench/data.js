// `npm run bench:data`: custom objects against the same node:http baseline.
//
// Creates three classes with the CLI and fills two of them straight through
// the project's storage (a transaction of multi-row inserts, as an import
// would): Thousand (1,000 records) and Million (BENCH_RECORDS, 1,000,000),
// both with an indexed Integer `value` spread over [0, 1,000,000), and Geo
// (BENCH_GEO_RECORDS, 100,000) with an indexed Location in a 1 x 1 degree
// square. Then loads, with a user token:
//   POST /data/Writes.json (create a record)                goal >= 0.2x baseline
//   GET value[gte]&sort_asc=value&limit=10 over Thousand
//     and the same over Million                              goal: cost at most 2x
//   GET spot[near]=lon,lat;1000&limit=10 over Geo            reported
// Same pinning, knobs and clean-up as run.js (see bench/lib.js).

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
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
  records: positive('BENCH_RECORDS', 1_000_000),
  geoRecords: positive('BENCH_GEO_RECORDS', 100_000),
};
const outFile = resolve(ROOT, process.env.BENCH_OUT ?? 'bench/results/data-latest.json');
const PASSWORD = 'bench-password-1';
const SPREAD = 1_000_000;
// Geo records lie in [LON0, LON0 + 1] x [LAT0, LAT0 + 1]; the query point is the square's middle.
const LON0 = 13;
const LAT0 = 52;

/** Record ids in the ObjectId layout: 4 bytes of seconds, then a counter (unique, time-ordered). */
function idFactory(seconds) {
  let n = 0;
  const head = seconds.toString(16).padStart(8, '0');
  return () => head + (n++).toString(16).padStart(16, '0');
}

/**
 * Inserts `count` records into a class's table through the project's storage
 * (dist/storage/db.js): one transaction, multi-row inserts under SQLite's
 * variable limit. `fields(i)` gives each record's field columns.
 */
async function fill(env, appId, className, count, userId, fields) {
  const { loadConfig } = await import(pathToFileURL(join(ROOT, 'dist/config.js')).href);
  const { openStorage } = await import(pathToFileURL(join(ROOT, 'dist/storage/db.js')).href);
  const storage = openStorage(loadConfig(env).database);
  try {
    const cls = await storage.db
      .selectFrom('data_classes')
      .select('id')
      .where('application_id', '=', appId)
      .where('name', '=', className)
      .executeTakeFirstOrThrow();
    const table = `co_${cls.id}`;
    const now = Math.floor(Date.now() / 1000);
    const nextId = idFactory(now - 86_400);
    const started = process.hrtime.bigint();
    const batch = 1000;
    await storage.db.transaction().execute(async (trx) => {
      for (let from = 0; from < count; from += batch) {
        const rows = [];
        for (let i = from; i < Math.min(count, from + batch); i++) {
          rows.push({
            _id: nextId(),
            user_id: userId,
            _parent_id: null,
            created_at: now,
            updated_at: now,
            p_read: 'open',
            p_read_ids: null,
            p_read_groups: null,
            p_update: 'owner',
            p_update_ids: null,
            p_update_groups: null,
            p_delete: 'owner',
            p_delete_ids: null,
            p_delete_groups: null,
            ...fields(i),
          });
        }
        await trx.insertInto(table).values(rows).execute();
      }
    });
    // Fresh statistics, as a table that grew in service would have after ANALYZE.
    await sql`analyze`.execute(storage.db);
    return Number(process.hrtime.bigint() - started) / 1e9;
  } finally {
    await storage.close();
  }
}

/** The first page of a query, to check it answers what the bench claims to measure. */
async function probe(url, path, token) {
  const response = await fetch(url + path, { headers: { 'QB-Token': token } });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

async function main() {
  const pin = pinning();
  const info = machine();
  console.log(`Switchboard custom-objects benchmark: ${info.nproc} cores, ${info.cpu}, node ${info.node}`);
  console.log(`load average at start: ${info.loadAverageAtStart}`);
  console.log(pin.note);
  console.log(`${knobs.connections} connections, ${knobs.warmupSeconds} s warm-up + ${knobs.seconds} s per scenario\n`);

  const { port, env, cli } = await switchboardSetup('data');
  const app = lastJson(cli('app', 'create', '--name', 'data-bench', '--json'));
  const appId = String(app.application_id);
  const member = lastJson(cli('user', 'create', '--app', appId, '--login', 'bench-member', '--password', PASSWORD, '--json'));
  const userId = member.user.id;
  for (const name of ['Thousand', 'Million']) {
    cli('class', 'create', '--app', appId, '--name', name, '--field', 'value:Integer:indexed', '--field', 'make:String');
  }
  cli('class', 'create', '--app', appId, '--name', 'Geo', '--field', 'spot:Location:indexed', '--field', 'make:String');
  cli('class', 'create', '--app', appId, '--name', 'Writes', '--field', 'value:Integer:indexed', '--field', 'make:String');

  // Values spread over [0, SPREAD) in both classes, in an order unrelated to _id.
  const spread = (count) => (i) => ({ f_value: Math.floor(((i * 7_919) % count) * (SPREAD / count)), f_make: `make-${i % 50}` });
  await fill(env, app.application_id, 'Thousand', 1000, userId, spread(1000));
  process.stdout.write(`filling Million with ${fmt(knobs.records)} records ... `);
  const millionSeconds = await fill(env, app.application_id, 'Million', knobs.records, userId, spread(knobs.records));
  console.log(`${fmt(millionSeconds, 1)} s (${fmt(knobs.records / millionSeconds)} records/s)`);
  process.stdout.write(`filling Geo with ${fmt(knobs.geoRecords)} located records ... `);
  // A deterministic scatter over the square (golden-ratio sequences).
  const geoSeconds = await fill(env, app.application_id, 'Geo', knobs.geoRecords, userId, (i) => ({
    f_spot__lon: LON0 + ((i * 0.618_033_988_75) % 1),
    f_spot__lat: LAT0 + ((i * 0.754_877_666_25) % 1),
    f_make: `geo-${i % 50}`,
  }));
  console.log(`${fmt(geoSeconds, 1)} s`);

  const { baseline, baselineUrl } = await startBaseline(pin);
  const server = launch(pin, 0, serveCommand(), env, 'switchboard');
  const url = `http://${HOST}:${port}`;
  await waitFor(`${url}/health/ready`, server);

  const token = (await signedSession(url, app, { 'user[login]': 'bench-member', 'user[password]': PASSWORD })).token;
  const queryPath = (cls) => `/data/${cls}.json?value[gte]=${SPREAD / 2}&sort_asc=value&limit=10`;
  const nearPath = `/data/Geo.json?spot[near]=${LON0 + 0.5},${LAT0 + 0.5};1000&limit=10`;
  // Each query must answer a full page, in order, or the figures mean nothing.
  for (const cls of ['Thousand', 'Million']) {
    const page = await probe(url, queryPath(cls), token);
    const values = page.items.map((item) => item.value);
    if (values.length !== 10 || values.some((v, i) => v < SPREAD / 2 || (i > 0 && v < values[i - 1]))) {
      throw new Error(`${cls} query answered ${JSON.stringify(values)}`);
    }
  }
  const nearPage = await probe(url, nearPath, token);
  const nearCount = (await probe(url, `/data/Geo.json?spot[near]=${LON0 + 0.5},${LAT0 + 0.5};1000&count=1`, token)).count;
  if (nearPage.items.length === 0) console.log('note: the near query finds nothing at this size');

  const scenarios = [
    baselineScenario(baseline, baselineUrl),
    {
      id: 'create',
      label: 'POST /data/Writes.json (create a record, user token)',
      spec: {
        url,
        path: '/data/Writes.json',
        method: 'POST',
        headers: { 'QB-Token': token, 'Content-Type': 'application/json' },
        body: JSON.stringify({ value: 42, make: 'BMW' }),
        expectedStatus: [201],
      },
    },
    {
      id: 'query-1k',
      label: 'GET indexed value[gte], sort_asc, limit=10 over 1,000 records',
      spec: { url, path: queryPath('Thousand'), headers: { 'QB-Token': token }, expectedStatus: [200] },
    },
    {
      id: 'query-large',
      label: `the same over ${fmt(knobs.records)} records`,
      spec: { url, path: queryPath('Million'), headers: { 'QB-Token': token }, expectedStatus: [200] },
    },
    {
      id: 'near',
      label: `GET spot[near] 1 km, limit=10 over ${fmt(knobs.geoRecords)} located records (${nearCount} within 1 km)`,
      spec: { url, path: nearPath, headers: { 'QB-Token': token }, expectedStatus: [200] },
    },
  ];

  const results = await runScenarios(pin, knobs, scenarios, server.pid);

  if (process.env.BENCH_ONLY) return; // a partial run has no goals to judge
  const by = (id) => results.find((r) => r.id === id);
  const queryCost = by('query-large').serverCpuMicrosPerRequest / by('query-1k').serverCpuMicrosPerRequest;
  const goals = [
    {
      label: 'record create >= 0.2x baseline',
      value: `${fmt(by('create').ratio, 2)}x`,
      pass: by('create').ratio >= 0.2 && by('create').unexpected === 0,
    },
    {
      label: `indexed query over ${fmt(knobs.records)} records costs <= 2x the same over 1,000 (server CPU per request)`,
      value: `${fmt(queryCost, 2)}x`,
      pass: queryCost <= 2 && by('query-large').unexpected === 0,
    },
  ];
  console.log('\nGoals (reported, not enforced):');
  for (const goal of goals) console.log(`  ${goal.pass ? 'PASS' : 'FAIL'}  ${goal.label}  (measured ${goal.value})`);
  console.log(
    `Reported: near over ${fmt(knobs.geoRecords)} records ${fmt(by('near').requestsPerSecond)} req/s, ${fmt(by('near').serverCpuMicrosPerRequest, 1)} us CPU/req.`,
  );

  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        revision: revision(),
        machine: info,
        method: { pinning: pin.note, ...knobs },
        fill: {
          records: knobs.records,
          seconds: round1(millionSeconds),
          geoRecords: knobs.geoRecords,
          geoSeconds: round1(geoSeconds),
          nearWithin1km: nearCount,
        },
        scenarios: results,
        goals,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nWrote ${outFile.startsWith(ROOT) ? outFile.slice(ROOT.length + 1) : outFile}`);
}

try {
  await main();
} catch (error) {
  if (!state.interrupted) console.error(`\nbenchmark failed: ${error instanceof Error ? error.stack : error}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
