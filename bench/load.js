// One scenario's load, run as its own process so `run.js` can pin it to a
// core apart from the server's. Reads a JSON spec from argv[2], runs a
// warm-up and then the measured run, and prints the result as one JSON line.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { sessionForms } from './sign.js';

const spec = JSON.parse(process.argv[2]);

function requestsFor(spec) {
  if (spec.kind === 'sign-up') {
    // A new login on every request; the run's start time keeps runs apart.
    let n = 0;
    const run = Date.now().toString(36);
    return [
      {
        method: 'POST',
        path: spec.path,
        setupRequest(request) {
          n += 1;
          request.body = `user%5Blogin%5D=signup-${run}-${n}&user%5Bpassword%5D=${encodeURIComponent(spec.password)}`;
          request.headers = { ...request.headers, 'Content-Type': 'application/x-www-form-urlencoded' };
          return request;
        },
      },
    ];
  }
  if (spec.kind === 'subscribe') {
    // A fresh device token each time over ten devices: each POST writes, and its answer (the user's subscriptions) stays small.
    let n = 0;
    return [
      {
        method: 'POST',
        path: spec.path,
        setupRequest(request) {
          n += 1;
          request.body = `notification_channel=gcm&device%5Bplatform%5D=android&device%5Budid%5D=bench-${n % 10}&push_token%5Benvironment%5D=production&push_token%5Bclient_identification_sequence%5D=fcm-${process.pid}-${n}`;
          request.headers = { ...request.headers, 'Content-Type': 'application/x-www-form-urlencoded' };
          return request;
        },
      },
    ];
  }
  if (spec.kind !== 'create-session') return undefined;
  const nextForm = sessionForms(spec.app, spec.extra);
  return [
    {
      method: 'POST',
      path: spec.path,
      setupRequest(request) {
        // A fresh nonce, timestamp and signature on every request.
        request.body = nextForm();
        request.headers = { ...request.headers, 'Content-Type': 'application/x-www-form-urlencoded' };
        return request;
      },
    },
  ];
}

function run(seconds) {
  return autocannon({
    url: spec.url + spec.path,
    method: spec.method ?? 'GET',
    headers: spec.headers ?? {},
    // A fixed body on every request (record create).
    body: spec.body,
    connections: spec.connections,
    duration: seconds,
    requests: requestsFor(spec),
  });
}

/** CPU time (user + system) the server process has used, in microseconds, from /proc. */
function serverCpuMicros() {
  if (!spec.pid) return null;
  try {
    // Fields after the command name: utime is the 12th, stime the 13th (clock ticks).
    const fields = readFileSync(`/proc/${spec.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / spec.clockTicks;
  } catch {
    return null;
  }
}

if (spec.warmupSeconds > 0) await run(spec.warmupSeconds);
const serverBefore = serverCpuMicros();
const ownBefore = process.cpuUsage();
const result = await run(spec.seconds);
const serverAfter = serverCpuMicros();
const own = process.cpuUsage(ownBefore);

const expected = new Set(spec.expectedStatus);
let unexpected = 0;
const statusCodes = {};
for (const [code, { count }] of Object.entries(result.statusCodeStats)) {
  statusCodes[code] = count;
  if (!expected.has(Number(code))) unexpected += count;
}

console.log(
  JSON.stringify({
    requestsPerSecond: result.requests.average,
    requestsTotal: result.requests.total,
    durationSeconds: result.duration,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    statusCodes,
    unexpected,
    socketErrors: result.errors,
    timeouts: result.timeouts,
    // Server CPU per answered request: steadier than req/s when the machine is shared.
    serverCpuMicrosPerRequest:
      serverBefore === null || serverAfter === null || result.requests.total === 0
        ? null
        : (serverAfter - serverBefore) / result.requests.total,
    // Near 100 %, the load generator, not the server, set the pace.
    loadGeneratorCpuPercent: (own.user + own.system) / 1e4 / result.duration,
  }),
);
