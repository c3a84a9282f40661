// `npm run bench`: Switchboard against a bare node:http server, in one run.
//
// Both servers run as child processes pinned to core 0 and the load
// generator (autocannon, bench/load.js) as a child pinned to core 1, so the
// two never compete for a core. Both speak plain HTTP, so the ratio measures
// the server and not TLS. Results go to stdout and bench/results/latest.json.
//
// Knobs (environment): BENCH_SECONDS (10), BENCH_WARMUP (2),
// BENCH_CONNECTIONS (50), BENCH_SETTLE (2, seconds before idle RSS),
// BENCH_NO_PIN=1 (do not use taskset), BENCH_OUT (results file).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  baselineScenario,
  cleanup,
  clockTicks,
  fmt,
  HOST,
  launch,
  load,
  loadKnobs,
  machine,
  pinning,
  positive,
  ROOT,
  revision,
  round1,
  rssMb,
  serveCommand,
  sleep,
  startBaseline,
  state,
  switchboardSetup,
  waitFor,
} from './lib.js';
import { sessionForms } from './sign.js';

const knobs = {
  ...loadKnobs(),
  settleSeconds: positive('BENCH_SETTLE', 2, true),
};
const outFile = resolve(ROOT, process.env.BENCH_OUT ?? 'bench/results/latest.json');

const GOALS = [
  { id: 'get-session', label: 'GET /session.json >= 0.5x baseline', kind: 'ratio', scenario: 'get-session', min: 0.5 },
  { id: 'create-session', label: 'app session creation >= 0.25x baseline', kind: 'ratio', scenario: 'create-session', min: 0.25 },
  { id: 'idle-rss', label: 'idle RSS <= 120 MB', kind: 'idle-rss', max: 120 },
];

// ---------------------------------------------------------------- the run

async function main() {
  const pin = pinning();
  const info = machine();
  console.log(`Switchboard benchmark: ${info.nproc} cores, ${info.cpu}, node ${info.node}`);
  console.log(`${pin.note}`);
  const load1 = info.loadAverageAtStart;
  if (load1 > 0.5)
    console.log(`Note: load average ${load1.toFixed(2)} before starting: other work on this machine will make figures noisy.`);
  console.log('Plain HTTP for both servers (Switchboard with TLS=off): the ratio measures the server, not TLS.');
  console.log(
    `${knobs.connections} connections, ${knobs.warmupSeconds} s warm-up + ${knobs.seconds} s measured per scenario (BENCH_SECONDS, BENCH_WARMUP, BENCH_CONNECTIONS)\n`,
  );

  // The baseline.
  const { baseline, baselineUrl } = await startBaseline(pin);

  // Switchboard on the embedded default, its application created before it starts.
  const { port, env, cli } = await switchboardSetup('main');
  const created = cli('app', 'create', '--name', 'bench', '--json');
  const app = JSON.parse(
    created
      .trim()
      .split('\n')
      .findLast((l) => l.startsWith('{')),
  );
  const server = launch(pin, 0, serveCommand(), env, 'switchboard');
  const url = `http://${HOST}:${port}`;
  await waitFor(`${url}/health/ready`, server);
  const readyAt = Date.now();
  await sleep(knobs.settleSeconds * 1000);
  const idleRss = rssMb(server.pid);
  console.log(`Switchboard idle RSS after start-up and ${knobs.settleSeconds} s settle: ${fmt(idleRss, 1)} MB\n`);

  // One session for the token scenario, made with a signed request.
  const form = sessionForms(app)();
  const response = await fetch(`${url}/session.json`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: form,
  });
  const reply = await response.json();
  if (response.status !== 201) throw new Error(`POST /session.json answered ${response.status}: ${JSON.stringify(reply)}`);
  const token = reply.session.token;

  const common = {
    connections: knobs.connections,
    seconds: knobs.seconds,
    warmupSeconds: knobs.warmupSeconds,
    clockTicks: clockTicks(),
  };
  const scenarios = [
    baselineScenario(baseline, baselineUrl),
    {
      id: 'create-session',
      label: 'POST /session.json (app session)',
      pid: server.pid,
      spec: { url, path: '/session.json', kind: 'create-session', app, expectedStatus: [201] },
    },
    {
      id: 'get-session',
      label: 'GET /session.json (valid token)',
      pid: server.pid,
      spec: { url, path: '/session.json', headers: { 'QB-Token': token }, expectedStatus: [200] },
    },
    {
      id: 'unknown-token',
      label: 'GET /session.json (unknown token, 401)',
      pid: server.pid,
      spec: { url, path: '/session.json', headers: { 'QB-Token': 'f'.repeat(40) }, expectedStatus: [401] },
    },
  ];

  const results = [];
  let baselineRps = null;
  let idleLater = null;
  for (const scenario of scenarios) {
    process.stdout.write(`${scenario.label} ... `);
    const result = await load(pin, { ...common, ...scenario.spec, pid: scenario.pid });
    const rss = rssMb(scenario.pid);
    if (scenario.id === 'baseline') baselineRps = result.requestsPerSecond;
    const ratio = baselineRps ? result.requestsPerSecond / baselineRps : null;
    const row = {
      id: scenario.id,
      label: scenario.label,
      expectedStatus: scenario.spec.expectedStatus,
      requestsPerSecond: Math.round(result.requestsPerSecond),
      ratio: ratio === null ? null : Math.round(ratio * 1000) / 1000,
      p50Ms: result.latencyMs.p50,
      p99Ms: result.latencyMs.p99,
      unexpected: result.unexpected + result.socketErrors + result.timeouts,
      statusCodes: result.statusCodes,
      socketErrors: result.socketErrors,
      timeouts: result.timeouts,
      requestsTotal: result.requestsTotal,
      serverCpuMicrosPerRequest: round1(result.serverCpuMicrosPerRequest),
      loadGeneratorCpuPercent: round1(result.loadGeneratorCpuPercent),
      rssMb: rss,
      rssOf: scenario.id === 'baseline' ? 'baseline' : 'switchboard',
    };
    results.push(row);
    if (scenario.id === 'baseline') {
      // Switchboard sat idle while the baseline ran: V8 gives start-up garbage back only after a while.
      idleLater = { mb: rssMb(server.pid), secondsAfterReady: Math.round((Date.now() - readyAt) / 1000) };
    }
    const unexpectedNote =
      row.unexpected > 0
        ? `  UNEXPECTED ${row.unexpected} (status ${JSON.stringify(row.statusCodes)}, errors ${row.socketErrors}, timeouts ${row.timeouts})`
        : '';
    console.log(
      `${fmt(row.requestsPerSecond)} req/s, ${fmt(row.ratio, 2)}x baseline, p99 ${row.p99Ms} ms, unexpected ${row.unexpected}, ` +
        `RSS ${fmt(rss, 1)} MB, server CPU ${fmt(row.serverCpuMicrosPerRequest, 1)} us/req, load generator ${fmt(row.loadGeneratorCpuPercent)} % CPU${unexpectedNote}`,
    );
  }

  const goals = GOALS.map((goal) => {
    if (goal.kind === 'idle-rss') {
      return { ...goal, value: idleRss, pass: idleRss !== null && idleRss <= goal.max };
    }
    const row = results.find((r) => r.id === goal.scenario);
    return { ...goal, value: row?.ratio ?? null, pass: row?.ratio != null && row.ratio >= goal.min && row.unexpected === 0 };
  });

  // The table.
  const header = ['scenario', 'req/s', 'x baseline', 'p99 ms', 'unexpected', 'RSS MB', 'CPU us/req', 'loadgen CPU'];
  const lines = results.map((r) => [
    r.label,
    fmt(r.requestsPerSecond),
    fmt(r.ratio, 2),
    String(r.p99Ms),
    String(r.unexpected),
    `${fmt(r.rssMb, 1)}${r.rssOf === 'baseline' ? ' (node:http)' : ''}`,
    fmt(r.serverCpuMicrosPerRequest, 1),
    `${fmt(r.loadGeneratorCpuPercent)} %`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(`\n${row(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const l of lines) console.log(row(l));
  console.log(
    `\nSwitchboard idle RSS: ${fmt(idleRss, 1)} MB ${knobs.settleSeconds} s after ready (the goal's figure)` +
      (idleLater
        ? `, ${fmt(idleLater.mb, 1)} MB ${idleLater.secondsAfterReady} s after ready (still idle, before its first scenario)`
        : ''),
  );
  console.log(
    'CPU us/req: server CPU time per answered request during the measured run (steadier than req/s on a shared machine).',
  );
  console.log('loadgen CPU: near 100 % means the load generator, not the server, set the pace.');
  console.log('\nGoals (reported, not enforced):');
  for (const goal of goals) {
    const value = goal.kind === 'idle-rss' ? `${fmt(goal.value, 1)} MB` : `${fmt(goal.value, 2)}x`;
    console.log(`  ${goal.pass ? 'PASS' : 'FAIL'}  ${goal.label}  (measured ${value})`);
  }

  const output = {
    date: new Date().toISOString(),
    revision: revision(),
    machine: info,
    method: {
      pinning: pin.note,
      pinned: pin.enabled,
      transport: 'plain HTTP for both servers (Switchboard TLS=off)',
      database: 'SQLite (embedded default), fresh data directory',
      logLevel: 'warn',
      ...knobs,
      loadGenerator: 'autocannon 8, one process',
    },
    idleRssMb: idleRss,
    idleRssLater: idleLater,
    scenarios: results,
    goals: goals.map(({ id, label, value, pass }) => ({ id, label, value, pass })),
  };
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(output, null, 2)}\n`);
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
