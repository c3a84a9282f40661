// For `npm run bench:floor`: what two write calls cost inside Switchboard,
// without HTTP. Runs the built services (dist/) on a fresh SQLite folder and
// calls them the way the routes do, in rounds of BENCH_CONNECTIONS concurrent
// calls (so group commit batches them as under load), and prints the server
// CPU per call as one JSON line:
//   sessionCreate   SessionsService.create, an application session, a fresh signature each time
//   messageCreate   MessagesService.create into a group dialog of 4
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../dist/config.js';
import { createServices } from '../dist/server.js';
import { sessionForms } from './sign.js';

const concurrency = Number(process.env.BENCH_CONNECTIONS ?? 50);
const calls = Number(process.env.BENCH_SERVICE_CALLS ?? 50_000);
const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-cost-'));
const quiet = { info() {}, warn() {}, error() {} };

try {
  const services = await createServices(
    loadConfig({ SWITCHBOARD_DATA: dir, LOG_LEVEL: 'warn', TLS: 'off' }, dir),
    undefined,
    quiet,
  );
  const { credentials } = await services.apps.createApplication({ name: 'bench' });
  const appId = credentials.application_id;
  const users = [];
  for (let i = 0; i < 4; i++)
    users.push((await services.users.create(appId, { login: `cost-${i}`, password: 'bench-password-1' })).id);
  const poster = { applicationId: appId, userId: users[0], via: 'token' };
  const dialog = await services.dialogs.create(poster, { type: 2, name: 'cost', occupants_ids: users.slice(1).join(',') });

  const nextForm = sessionForms(credentials);
  const scenarios = {
    sessionCreate: () => services.sessions.create(Object.fromEntries(new URLSearchParams(nextForm()))),
    messageCreate: () => services.messages.create(poster, { chat_dialog_id: dialog._id, message: 'Hello from the benchmark' }),
  };

  /** CPU microseconds per call over `n` calls, after a warm-up of a tenth as many. */
  async function cost(call, n) {
    const rounds = async (count) => {
      for (let done = 0; done < count; done += concurrency) {
        await Promise.all(Array.from({ length: concurrency }, call));
      }
    };
    await rounds(Math.ceil(n / 10));
    const before = process.cpuUsage();
    await rounds(n);
    const used = process.cpuUsage(before);
    return Math.round(((used.user + used.system) / n) * 10) / 10;
  }

  const out = {};
  for (const [name, call] of Object.entries(scenarios)) out[name] = await cost(call, calls);
  await services.storage.close();
  console.log(JSON.stringify(out));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
