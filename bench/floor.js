// `npm run bench:floor`: how far down the three write-and-read calls with a
// goal could go on this stack, as evidence for those goals.
//
//   1. The node:http baseline and a bare Fastify (bench/fastify-floor.js: the
//      same Fastify and logger, fixed answers of the same shapes, no auth, no
//      storage) under the same load as the real scenarios: Fastify's floor.
//   2. Switchboard's services without HTTP (bench/service-cost.js): the CPU
//      one session creation and one message creation cost, storage included.
//   3. Their sum is a lower bound for each call over HTTP (auth, validation
//      and the route's own work come on top), and the best ratio it allows is
//      printed beside the goal.
// Same pinning, knobs and clean-up as run.js (see bench/lib.js).

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  baselineScenario,
  cleanup,
  fmt,
  freePort,
  HOST,
  lastJson,
  launch,
  loadKnobs,
  machine,
  pinning,
  printTable,
  ROOT,
  revision,
  round1,
  runScenarios,
  startBaseline,
  state,
  waitFor,
} from './lib.js';

const knobs = {
  ...loadKnobs(),
};
const outFile = resolve(ROOT, process.env.BENCH_OUT ?? 'bench/results/floor-latest.json');
// Any credentials: the floor server does not check them, but the load generator signs each body as for the real call.
const FAKE_APP = { application_id: 1, auth_key: 'floor-key', auth_secret: 'floor-secret' };

/** Each goal: the Fastify floor scenario for its HTTP shape, and the service cost measured in-process (if any). */
const GOALS = [
  { label: 'GET /session.json', min: 0.5, floor: 'floor-get', service: null },
  { label: 'POST /session.json (app session)', min: 0.25, floor: 'floor-session', service: 'sessionCreate' },
  { label: 'POST /chat/Message.json', min: 0.2, floor: 'floor-message', service: 'messageCreate' },
];

async function main() {
  const pin = pinning();
  const info = machine();
  console.log(`Switchboard floor benchmark: ${info.nproc} cores, ${info.cpu}, node ${info.node}`);
  console.log(`${pin.note}\n`);

  const { baseline, baselineUrl } = await startBaseline(pin);
  const port = await freePort();
  const floor = launch(pin, 0, [process.execPath, join(ROOT, 'bench/fastify-floor.js')], { PORT: String(port), HOST }, 'fastify');
  const url = `http://${HOST}:${port}`;
  await waitFor(`${url}/session.json`, floor);

  const json = { 'Content-Type': 'application/json', 'QB-Token': 'f'.repeat(40) };
  const scenarios = [
    baselineScenario(baseline, baselineUrl),
    {
      id: 'floor-get',
      label: 'Fastify GET /session.json',
      spec: { url, path: '/session.json', headers: { 'QB-Token': 'f'.repeat(40) }, expectedStatus: [200] },
    },
    {
      id: 'floor-session',
      label: 'Fastify POST /session.json (form)',
      spec: { url, path: '/session.json', method: 'POST', kind: 'create-session', app: FAKE_APP, expectedStatus: [201] },
    },
    {
      id: 'floor-message',
      label: 'Fastify POST /chat/Message.json (JSON)',
      spec: {
        url,
        path: '/chat/Message.json',
        method: 'POST',
        headers: json,
        body: JSON.stringify({ chat_dialog_id: '6751a2b3c4d5e6f708192a3c', message: 'Hello from the benchmark' }),
        expectedStatus: [201],
      },
    },
  ];
  const results = await runScenarios(pin, knobs, scenarios, floor.pid);
  const rows = new Map(results.map((row) => [row.id, row]));
  const baselineCpu = rows.get('baseline')?.serverCpuMicrosPerRequest;

  process.stdout.write('\nservices without HTTP (bench/service-cost.js, SQLite) ... ');
  const costs = await serviceCosts(pin);
  console.log(
    Object.entries(costs)
      .map(([name, us]) => `${name} ${fmt(us, 1)} us`)
      .join(', '),
  );

  printTable(
    ['scenario', 'req/s', 'x baseline', 'CPU us/req'],
    results.map((row) => [row.label, fmt(row.requestsPerSecond), fmt(row.ratio, 2), fmt(row.serverCpuMicrosPerRequest, 1)]),
  );

  console.log('\nLower bounds (server CPU per call; the ratio is baseline CPU / bound, which tracks the req/s ratio):');
  const bounds = GOALS.map((goal) => {
    const floorCpu = rows.get(goal.floor)?.serverCpuMicrosPerRequest ?? null;
    const serviceCpu = goal.service ? (costs[goal.service] ?? null) : 0;
    const bound = floorCpu === null || serviceCpu === null ? null : round1(floorCpu + serviceCpu);
    const bestRatio = bound && baselineCpu ? Math.round((baselineCpu / bound) * 100) / 100 : null;
    const needed = baselineCpu ? round1(baselineCpu / goal.min) : null;
    console.log(
      `  ${goal.label}: Fastify ${fmt(floorCpu, 1)} + services ${fmt(serviceCpu, 1)} = ${fmt(bound, 1)} us ` +
        `-> at best ${fmt(bestRatio, 2)}x; the goal ${goal.min}x needs <= ${fmt(needed, 1)} us`,
    );
    return { ...goal, floorCpu, serviceCpu, bound, bestRatio, neededCpu: needed };
  });

  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    `${JSON.stringify({ at: new Date().toISOString(), revision: revision(), machine: info, knobs, results, serviceCosts: costs, bounds }, null, 2)}\n`,
  );
  console.log(`\nWrote ${outFile}`);
}

/** Runs bench/service-cost.js on the servers' core and returns its figures. */
function serviceCosts(pin) {
  return new Promise((done, fail) => {
    const child = launch(
      pin,
      0,
      [process.execPath, join(ROOT, 'bench/service-cost.js')],
      { BENCH_CONNECTIONS: String(knobs.connections) },
      'cost',
    );
    child.once('exit', (code) => {
      if (code !== 0) return fail(new Error(`service-cost.js failed (exit ${code}):\n${child.output}`));
      done(lastJson(child.output));
    });
  });
}

main()
  .catch((error) => {
    if (!state.interrupted) console.error(error);
    process.exitCode = 1;
  })
  .finally(cleanup);
