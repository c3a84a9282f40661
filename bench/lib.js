// Shared by the benchmark runners (run.js, users.js, chat.js): child processes pinned
// to cores, clean-up on exit, readiness, RSS and CPU from /proc, formatting.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sessionForms } from './sign.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const HOST = '127.0.0.1';

// ---------------------------------------------------------------- clean-up

export const children = new Set();
export const tempDirs = [];
let cleaning = null;
export const state = { interrupted: false };

export function cleanup() {
  cleaning ??= (async () => {
    await Promise.all([...children].map((child) => stopChild(child)));
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}

// Last resort when the process leaves without going through cleanup().
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    state.interrupted = true;
    console.error(`\n${signal}: stopping the servers and removing temp files`);
    cleanup().finally(() => process.exit(130));
  });
}

export function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });
}

// ---------------------------------------------------------------- helpers

export function positive(name, fallback, zeroOk = false) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || (!zeroOk && value === 0)) {
    throw new Error(`${name} must be a ${zeroOk ? 'non-negative' : 'positive'} number (got "${raw}")`);
  }
  return value;
}

/** The load settings every runner shares (BENCH_SECONDS, BENCH_WARMUP, BENCH_CONNECTIONS). */
export function loadKnobs() {
  return {
    seconds: positive('BENCH_SECONDS', 10),
    warmupSeconds: positive('BENCH_WARMUP', 2, true),
    connections: positive('BENCH_CONNECTIONS', 50),
  };
}

/** How processes get pinned: taskset when there are two cores to split, else nothing. */
export function pinning() {
  if (process.env.BENCH_NO_PIN === '1') return { enabled: false, note: 'pinning disabled by BENCH_NO_PIN=1' };
  const cores = availableParallelism();
  if (cores < 2) return { enabled: false, note: `only ${cores} core available: servers and load share it` };
  const probe = spawnSync('taskset', ['-c', '1', 'true']);
  if (probe.error || probe.status !== 0) {
    return { enabled: false, note: 'taskset is missing or cannot pin to core 1: processes are not pinned' };
  }
  return { enabled: true, note: `servers pinned to core 0, load generator to core 1 (taskset; ${cores} cores)` };
}

/**
 * The command that runs Switchboard as `npm start` and `bin/switchboard serve` do, with the same V8
 * flags (test/node-flags.test.ts keeps the three in step); BENCH_NODE_FLAGS='--a --b' replaces them,
 * for experiments. BENCH_CPU_PROF=DIR, for every runner, writes the server's V8 CPU profile there
 * when it stops (node --cpu-prof).
 */
export function serveCommand() {
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${resolve(process.env.BENCH_CPU_PROF)}`] : [];
  return [
    process.execPath,
    ...(process.env.BENCH_NODE_FLAGS !== undefined
      ? process.env.BENCH_NODE_FLAGS.split(' ').filter(Boolean)
      : ['--max-semi-space-size=8']),
    ...profile,
    join(ROOT, 'dist/cli.js'),
    'serve',
  ];
}

/**
 * A fresh data folder and port for Switchboard on the embedded default (SQLite, local blobs), an
 * environment that clears every scaled-out setting the caller's shell may have, plus `extra`,
 * and `cli(...args)` running bin/switchboard with it.
 */
export async function switchboardSetup(label, extra = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), `switchboard-bench-${label}-`));
  tempDirs.push(dataDir);
  const port = await freePort();
  const env = { SWITCHBOARD_DATA: dataDir, TLS: 'off', LOG_LEVEL: 'warn', HOST, PORT: String(port), ...extra };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'BLOB_STORE', 'SWITCHBOARD_CONFIG', 'SMTP_URL']) env[name] = '';
  const cli = (...args) => run(process.execPath, [join(ROOT, 'bin/switchboard'), ...args], env);
  return { dataDir, port, env, cli };
}

/** The result row of one scenario, as every runner records it (`pid`: the process measured). */
export function scenarioRow(scenario, result, baselineRps, pid) {
  return {
    id: scenario.id,
    label: scenario.label,
    path: scenario.spec.path,
    requestsPerSecond: Math.round(result.requestsPerSecond),
    ratio: baselineRps ? Math.round((result.requestsPerSecond / baselineRps) * 1000) / 1000 : null,
    p50Ms: result.latencyMs.p50,
    p99Ms: result.latencyMs.p99,
    unexpected: result.unexpected + result.socketErrors + result.timeouts,
    statusCodes: result.statusCodes,
    requestsTotal: result.requestsTotal,
    serverCpuMicrosPerRequest: round1(result.serverCpuMicrosPerRequest),
    // Near 100 % means autocannon (on its own core, shared with whatever else runs) set the pace.
    loadGeneratorCpuPercent: round1(result.loadGeneratorCpuPercent),
    loadAverage: round1(loadavg()[0]),
    rssMb: rssMb(pid),
  };
}

/** The node:http baseline as every runner's first scenario. */
export function baselineScenario(baseline, baselineUrl) {
  return {
    id: 'baseline',
    label: 'baseline GET / (node:http)',
    pid: baseline.pid,
    spec: { url: baselineUrl, path: '/', expectedStatus: [200] },
  };
}

/**
 * Runs the scenarios in order (each on `serverPid` unless it names its own pid), prints a line for
 * each, and returns their rows, ratios to the baseline scenario's req/s. BENCH_ONLY=a,b runs just
 * those (with the baseline), e.g. to profile one.
 */
export async function runScenarios(pin, knobs, scenarios, serverPid) {
  const common = {
    connections: knobs.connections,
    seconds: knobs.seconds,
    warmupSeconds: knobs.warmupSeconds,
    clockTicks: clockTicks(),
  };
  const only = process.env.BENCH_ONLY ? new Set(['baseline', ...process.env.BENCH_ONLY.split(',')]) : null;
  const results = [];
  let baselineRps = null;
  for (const scenario of scenarios) {
    if (only && !only.has(scenario.id)) continue;
    process.stdout.write(`${scenario.label} ... `);
    const pid = scenario.pid ?? serverPid;
    const result = await load(pin, { ...common, ...scenario.spec, pid });
    if (scenario.id === 'baseline') baselineRps = result.requestsPerSecond;
    const row = scenarioRow(scenario, result, baselineRps, pid);
    results.push(row);
    console.log(describeRow(row));
  }
  return results;
}

/** The line printed after a scenario. */
export function describeRow(row) {
  return (
    `${fmt(row.requestsPerSecond)} req/s, ${fmt(row.ratio, 2)}x baseline, p99 ${row.p99Ms} ms, ` +
    `CPU ${fmt(row.serverCpuMicrosPerRequest, 1)} us/req, loadgen CPU ${fmt(row.loadGeneratorCpuPercent)} %, ` +
    `load average ${row.loadAverage}, unexpected ${row.unexpected}`
  );
}

/** Starts the bare node:http baseline (bench/baseline.js) on core 0 and waits until it answers. */
export async function startBaseline(pin) {
  const port = await freePort();
  const baseline = launch(pin, 0, [process.execPath, join(ROOT, 'bench/baseline.js')], { PORT: String(port), HOST }, 'baseline');
  const baselineUrl = `http://${HOST}:${port}`;
  await waitFor(`${baselineUrl}/`, baseline);
  return { baseline, baselineUrl };
}

export function launch(pin, core, args, env, label) {
  const [command, argv] = pin.enabled ? ['taskset', ['-c', String(core), ...args]] : [args[0], args.slice(1)];
  // taskset execs the command, so child.pid is the node process itself.
  const child = spawn(command, argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.label = label;
  child.output = '';
  const keep = (chunk) => {
    child.output = (child.output + chunk).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

export async function waitFor(url, child, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${child.label} exited during start-up:\n${child.output}`);
    }
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${child.label} was not ready at ${url} within ${timeoutMs / 1000} s:\n${child.output}`);
}

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** Resident set size of a process, in MB, from /proc. */
export function rssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]);
    return Number.isFinite(kb) ? Math.round((kb / 1024) * 10) / 10 : null;
  } catch {
    return null;
  }
}

export function run(command, args, env) {
  const result = spawnSync(command, args, { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

export function load(pin, spec) {
  return new Promise((done, fail) => {
    const child = launch(pin, 1, [process.execPath, join(ROOT, 'bench/load.js'), JSON.stringify(spec)], {}, 'load');
    child.once('exit', (code) => {
      const line = child.output
        .trim()
        .split('\n')
        .findLast((l) => l.startsWith('{'));
      if (code !== 0 || !line) return fail(new Error(`load generator failed (exit ${code}):\n${child.output}`));
      done(JSON.parse(line));
    });
  });
}

export function clockTicks() {
  const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const ticks = Number(result.stdout?.trim());
  return result.status === 0 && ticks > 0 ? ticks : 100;
}

/** Which code was measured: the commit, and whether src/ had uncommitted changes. */
export function revision() {
  const git = (...args) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return null;
  const dirty = git('status', '--porcelain', '--', 'src');
  return { commit: head.stdout.trim(), srcDirty: dirty.stdout.trim() !== '' };
}

export function machine() {
  const nproc = spawnSync('nproc', { encoding: 'utf8' });
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return {
    nproc: nproc.status === 0 ? Number(nproc.stdout.trim()) : availableParallelism(),
    cpu: model.trim(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverageAtStart: Math.round(loadavg()[0] * 100) / 100,
  };
}

export const round1 = (n) => (typeof n === 'number' ? Math.round(n * 10) / 10 : null);

export const fmt = (n, digits = 0) =>
  n === null || n === undefined
    ? '-'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The last JSON line a CLI command printed (its progress lines come first). */
export function lastJson(text) {
  const line = text
    .trim()
    .split('\n')
    .findLast((l) => l.startsWith('{'));
  if (!line) throw new Error(`no JSON in the output:\n${text}`);
  return JSON.parse(line);
}

/** A session made with one signed POST /session.json (`extra`: user[login], user[password] for a user session). */
export async function signedSession(url, app, extra) {
  const response = await fetch(`${url}/session.json`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: sessionForms(app, extra)(),
  });
  const reply = await response.json();
  if (response.status !== 201) throw new Error(`POST /session.json answered ${response.status}: ${JSON.stringify(reply)}`);
  return reply.session;
}

/** Prints rows as a table: the first column left-aligned, the others right-aligned. */
export function printTable(header, lines) {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(`\n${row(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const l of lines) console.log(row(l));
}
