// `npm run bench:chat`: the Chat REST API against the same node:http baseline.
//
// Fills one application's chat tables straight into the SQLite file (with
// better-sqlite3, server stopped, rows exactly as the chat store writes them):
//   a user in BENCH_CHAT_DIALOGS (10,000) dialogs and one in 100,
//   a dialog of BENCH_CHAT_MESSAGES (1,000,000) messages and one of 1,000,
//   a group dialog of 4 occupants for message creation,
// with unread counters and totals that agree with the rows. Then loads:
//   POST /chat/Message.json into the group dialog           goal >= 0.2x baseline
//   GET /chat/Dialog.json (default sort, limit 100)
//     for the user in 10,000 dialogs vs the user in 100      goal: CPU/req <= 2x
//   GET /chat/Message.json?chat_dialog_id=&mark_as_read=0,
//     first page and a keyset page from the middle,
//     1,000,000 messages vs 1,000                            goal: CPU/req <= 2x
//   GET /chat/Message/unread.json, total and 10 dialog ids,
//     10,000 dialogs vs 100                                  goal: CPU/req <= 2x
// Same pinning, knobs and clean-up as run.js (see bench/lib.js).

import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
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
  printTable,
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
  manyDialogs: positive('BENCH_CHAT_DIALOGS', 10_000),
  fewDialogs: positive('BENCH_CHAT_FEW_DIALOGS', 100),
  manyMessages: positive('BENCH_CHAT_MESSAGES', 1_000_000),
  fewMessages: positive('BENCH_CHAT_FEW_MESSAGES', 1000),
};
const outFile = resolve(ROOT, process.env.BENCH_OUT ?? 'bench/results/chat-latest.json');
const PASSWORD = 'bench-password-1';
/** Users imported without a password: the other occupants. */
const PARTNERS = 50;
const FIRST_PARTNER_ID = 1_000_001;
/** Messages per list dialog, of which the last `i % 4` are unread by the listing user. */
const MESSAGES_PER_LIST_DIALOG = 3;
/** Unread by the reader at the end of each message dialog. */
const UNREAD_TAIL = 5;

// ---------------------------------------------------------------- ids

// ObjectId layout as src/core/ids.ts: 4 bytes of seconds, 5 fixed random bytes, a 3-byte counter
// (never wraps here: the fill makes far fewer than 16.7 million ids).
const idMiddle = randomBytes(5).toString('hex');
let idCounter = 0;
function objectId(seconds) {
  idCounter += 1;
  return seconds.toString(16).padStart(8, '0') + idMiddle + idCounter.toString(16).padStart(6, '0');
}

// ---------------------------------------------------------------- the fill

const TEXT = 'The quick brown fox jumps over the lazy dog, message number ';

/**
 * Writes the chat rows straight into the SQLite file, in big transactions,
 * the way ChatStore would have left them. Returns what the scenarios need.
 */
function fill(file, appId, users) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF'); // the fill only; the server opens it with its own settings
  const insertDialog = db.prepare(
    `insert into chat_dialogs (id, application_id, type, user_id, name, photo, occupants_ids, private_pair, is_join_required,
       data_class, data, last_message, last_message_date_sent, last_message_user_id, last_message_id, sort_at, created_at, updated_at)
     values (?, ?, 2, ?, ?, null, ?, null, 0, null, null, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertOccupant = db.prepare(
    `insert into chat_occupants (dialog_id, user_id, application_id, unread_count, hidden, notifications, sort_at)
     values (?, ?, ?, ?, 0, 1, ?)`,
  );
  const insertMessage = db.prepare(
    `insert into chat_messages (id, dialog_id, application_id, sender_id, recipient_id, message, date_sent, attachments,
       attachment_types, custom, markable, read_ids, delivered_ids, created_at, updated_at)
     values (?, ?, ?, ?, null, ?, ?, ?, ?, '{}', 0, ?, ?, ?, ?)`,
  );
  const totals = new Map();
  const addTotal = (userId, n) => totals.set(userId, (totals.get(userId) ?? 0) + n);
  const comma = (ids) => `,${ids.join(',')},`;
  const now = Math.floor(Date.now() / 1000);
  const t0 = now - 3_000_000;

  /**
   * One group dialog with its occupants and `count` messages; `messageAt(i)`
   * gives each one's sender, second and readers. The dialog row goes first
   * (the messages' foreign key), with its last-message fields worked out
   * beforehand: message ids take the next `count` counter values.
   */
  function dialog(owner, occupants, name, createdSeconds, count, messageAt) {
    const sorted = [...occupants].sort((a, b) => a - b);
    const id = objectId(createdSeconds);
    const firstCounter = idCounter + 1;
    idCounter += count;
    const messageId = (seconds, i) =>
      seconds.toString(16).padStart(8, '0') + idMiddle + (firstCounter + i).toString(16).padStart(6, '0');
    const lastAt = count > 0 ? messageAt(count - 1) : null;
    // As insertMessage leaves them: sort_at is the last message's second (the creation second before one), on every occupant too.
    const sortAt = lastAt ? lastAt.seconds : createdSeconds;
    insertDialog.run(
      id,
      appId,
      owner,
      name,
      JSON.stringify(sorted),
      lastAt ? `${TEXT}${count - 1}` : null,
      lastAt?.seconds ?? null,
      lastAt?.sender ?? null,
      lastAt ? messageId(lastAt.seconds, count - 1) : null,
      sortAt,
      createdSeconds * 1000,
      lastAt ? lastAt.seconds * 1000 : createdSeconds * 1000,
    );
    const unread = new Map(sorted.map((u) => [u, 0]));
    for (let i = 0; i < count; i++) {
      const { sender, seconds, readers } = messageAt(i);
      const read = [sender, ...readers.filter((u) => u !== sender)];
      for (const u of sorted) if (!read.includes(u)) unread.set(u, unread.get(u) + 1);
      const image = i % 10 === 9;
      const attachments = image
        ? JSON.stringify([{ type: 'image', id: `blob-${i}`, url: `https://example.com/${i}.jpg`, name: `${i}.jpg`, size: 1000 }])
        : '[]';
      const ms = seconds * 1000;
      insertMessage.run(
        messageId(seconds, i),
        id,
        appId,
        sender,
        `${TEXT}${i}`,
        seconds,
        attachments,
        image ? ',image,' : ',,',
        comma(read),
        comma([sender, ...sorted.filter((u) => u !== sender)]),
        ms,
        ms,
      );
    }
    for (const u of sorted) {
      insertOccupant.run(id, u, appId, unread.get(u), sortAt);
      addTotal(u, unread.get(u));
    }
    return { id, unread };
  }

  const partners = Array.from({ length: PARTNERS }, (_, i) => FIRST_PARTNER_ID + i);
  const built = {};
  const timings = {};
  const timed = (name, fn) => {
    const started = process.hrtime.bigint();
    const value = db.transaction(fn)();
    timings[name] = Number(process.hrtime.bigint() - started) / 1e9;
    return value;
  };

  // Users in many and in few dialogs: each with one partner, three messages by the partner, i % 4 unread.
  const listDialogs = (user, count, offset) => {
    const ids = [];
    for (let i = 0; i < count; i++) {
      const partner = partners[(i + offset) % PARTNERS];
      const created = t0 + i * Math.floor(1_000_000 / count);
      const unreadTail = i % 4;
      const at = (k) => ({
        sender: partner,
        seconds: created + 10 * (k + 1),
        readers: k >= MESSAGES_PER_LIST_DIALOG - unreadTail ? [] : [user],
      });
      ids.push(dialog(partner, [user, partner], `Dialog ${i}`, created, MESSAGES_PER_LIST_DIALOG, at).id);
    }
    return ids;
  };
  built.manyDialogIds = timed('dialogsMany', () => listDialogs(users.many, knobs.manyDialogs, 0));
  built.fewDialogIds = timed('dialogsFew', () => listDialogs(users.few, knobs.fewDialogs, 7));

  // Dialogs of history: the reader and two partners, senders in turn, the last messages unread.
  const history = (count, spacing, name) => {
    const [a, b] = [partners[0], partners[1]];
    const senders = [users.reader, a, b];
    const created = t0 - 10;
    const at = (i) =>
      i >= count - UNREAD_TAIL
        ? { sender: a, seconds: t0 + i * spacing, readers: [] }
        : { sender: senders[i % 3], seconds: t0 + i * spacing, readers: senders };
    const d = dialog(users.reader, senders, name, created, count, at);
    return { id: d.id, middleDateSent: t0 + Math.floor(count / 2) * spacing, unread: d.unread.get(users.reader) };
  };
  built.manyMessages = timed('messagesMany', () =>
    history(knobs.manyMessages, Math.max(1, Math.floor(2_000_000 / knobs.manyMessages)), 'Long history'),
  );
  built.fewMessages = timed('messagesFew', () =>
    history(knobs.fewMessages, Math.max(1, Math.floor(2_000_000 / knobs.fewMessages)), 'Short history'),
  );

  // The dialog messages are sent to: the poster and three partners, no history yet.
  built.postDialog = timed(
    'postDialog',
    () => dialog(users.poster, [users.poster, partners[2], partners[3], partners[4]], 'Posting', now - 60, 0, null).id,
  );

  timed('unreadTotals', () => {
    const upsert = db.prepare(
      'insert into chat_unread_totals (user_id, total) values (?, ?) on conflict (user_id) do update set total = total + excluded.total',
    );
    for (const [user, total] of totals) upsert.run(user, total);
  });
  built.expectedTotals = Object.fromEntries(Object.entries(users).map(([k, id]) => [k, totals.get(id) ?? 0]));

  const started = process.hrtime.bigint();
  db.pragma('wal_checkpoint(TRUNCATE)');
  timings.checkpoint = Number(process.hrtime.bigint() - started) / 1e9;
  const counts = {
    dialogs: db.prepare('select count(*) as n from chat_dialogs').get().n,
    occupants: db.prepare('select count(*) as n from chat_occupants').get().n,
    messages: db.prepare('select count(*) as n from chat_messages').get().n,
  };
  db.close();
  return { ...built, timings, counts };
}

// ---------------------------------------------------------------- the run

async function check(url, path, token, status, test) {
  const response = await fetch(url + path, { headers: { 'QB-Token': token } });
  const body = await response.json().catch(() => null);
  if (response.status !== status) throw new Error(`GET ${path} answered ${response.status}: ${JSON.stringify(body)}`);
  const problem = test(body);
  if (problem) throw new Error(`GET ${path}: ${problem}`);
}

async function main() {
  // The code measured: read before the run, since HEAD may move while it lasts.
  const measured = revision();
  const pin = pinning();
  const info = machine();
  console.log(`Switchboard chat benchmark: ${info.nproc} cores, ${info.cpu}, node ${info.node}`);
  console.log(pin.note);
  console.log(`load average ${info.loadAverageAtStart} at the start`);
  console.log(`${knobs.connections} connections, ${knobs.warmupSeconds} s warm-up + ${knobs.seconds} s per scenario\n`);

  const setupStarted = process.hrtime.bigint();
  const since = (t) => Number(process.hrtime.bigint() - t) / 1e9;
  const { dataDir, port, env, cli } = await switchboardSetup('chat');

  process.stdout.write('migrate, application, users (CLI) ... ');
  cli('migrate');
  const app = lastJson(cli('app', 'create', '--name', 'chat', '--json'));
  const appArg = String(app.application_id);
  const users = {};
  for (const name of ['many', 'few', 'reader', 'poster']) {
    const login = `chat-${name}`;
    users[name] = lastJson(cli('user', 'create', '--app', appArg, '--login', login, '--password', PASSWORD, '--json')).user.id;
  }
  const partnersFile = join(dataDir, 'partners.jsonl');
  writeFileSync(
    partnersFile,
    Array.from(
      { length: PARTNERS },
      (_, i) => `{"id":${FIRST_PARTNER_ID + i},"login":"partner-${i}","full_name":"Partner ${i}"}\n`,
    ).join(''),
  );
  cli('user', 'import', '--app', appArg, partnersFile, '--require-password-reset');
  const cliSeconds = since(setupStarted);
  console.log(`${fmt(cliSeconds, 1)} s`);

  process.stdout.write(
    `filling SQLite: ${fmt(knobs.manyDialogs)} + ${fmt(knobs.fewDialogs)} dialogs, ${fmt(knobs.manyMessages)} + ${fmt(knobs.fewMessages)} messages ... `,
  );
  const fillStarted = process.hrtime.bigint();
  const data = fill(join(dataDir, 'switchboard.sqlite'), app.application_id, users);
  const fillSeconds = since(fillStarted);
  console.log(
    `${fmt(fillSeconds, 1)} s (${fmt(data.counts.messages)} messages, ${fmt(data.counts.dialogs)} dialogs, ${fmt(data.counts.occupants)} occupant rows; ` +
      `${fmt(data.counts.messages / fillSeconds)} messages/s overall)`,
  );

  const { baseline, baselineUrl } = await startBaseline(pin);
  const server = launch(pin, 0, serveCommand(), env, 'switchboard');
  const url = `http://${HOST}:${port}`;
  await waitFor(`${url}/health/ready`, server);
  const tokens = {};
  for (const name of Object.keys(users)) {
    tokens[name] = (await signedSession(url, app, { 'user[login]': `chat-${name}`, 'user[password]': PASSWORD })).token;
  }
  const setupSeconds = since(setupStarted);
  console.log(`setup in all (CLI, fill, servers, sessions): ${fmt(setupSeconds, 1)} s\n`);

  // Paths, and a check of each answer before it is loaded: the fill must read back as the API would have written it.
  const dialogsPath = '/chat/Dialog.json';
  const pagePath = (d) => `/chat/Message.json?chat_dialog_id=${d.id}&mark_as_read=0`;
  const keysetPath = (d) =>
    `/chat/Message.json?chat_dialog_id=${d.id}&mark_as_read=0&date_sent%5Blt%5D=${d.middleDateSent}&sort_desc=date_sent&limit=100`;
  const pick = (ids) => Array.from({ length: 10 }, (_, i) => ids[Math.floor((i * ids.length) / 10)]);
  const idsPath = (ids) => `/chat/Message/unread.json?chat_dialog_ids=${pick(ids).join(',')}`;
  const expectUnread = (ids) => pick(ids).map((_, i) => Math.floor((i * ids.length) / 10) % 4);

  await check(url, dialogsPath, tokens.many, 200, (b) =>
    b.total_entries === knobs.manyDialogs && b.items.length === Math.min(100, knobs.manyDialogs)
      ? null
      : `total_entries ${b.total_entries}, ${b.items.length} items`,
  );
  await check(url, dialogsPath, tokens.few, 200, (b) =>
    b.total_entries === knobs.fewDialogs ? null : `total_entries ${b.total_entries}`,
  );
  for (const d of [data.manyMessages, data.fewMessages]) {
    await check(url, pagePath(d), tokens.reader, 200, (b) => (b.items.length === 100 ? null : `${b.items.length} items`));
    await check(url, keysetPath(d), tokens.reader, 200, (b) =>
      b.items.length === 100 && b.items[0].date_sent < d.middleDateSent && b.items[0].date_sent > b.items[99].date_sent
        ? null
        : `keyset page not as expected (${b.items.length} items)`,
    );
  }
  for (const [name, ids] of [
    ['many', data.manyDialogIds],
    ['few', data.fewDialogIds],
  ]) {
    await check(url, '/chat/Message/unread.json', tokens[name], 200, (b) =>
      b.total === data.expectedTotals[name] ? null : `total ${b.total}, expected ${data.expectedTotals[name]}`,
    );
    await check(url, idsPath(ids), tokens[name], 200, (b) => {
      const got = pick(ids).map((id) => b[id]);
      return JSON.stringify(got) === JSON.stringify(expectUnread(ids))
        ? null
        : `per dialog ${got}, expected ${expectUnread(ids)}`;
    });
  }
  await check(url, '/chat/Message/unread.json', tokens.reader, 200, (b) =>
    b.total === 2 * UNREAD_TAIL ? null : `reader total ${b.total}`,
  );
  console.log('answers checked against the fill (totals, pages, keyset order, unread counters)\n');

  const auth = (name) => ({ 'QB-Token': tokens[name] });
  const md = fmt(knobs.manyDialogs);
  const fd = fmt(knobs.fewDialogs);
  const mm = fmt(knobs.manyMessages);
  const fm = fmt(knobs.fewMessages);
  const scenarios = [
    baselineScenario(baseline, baselineUrl),
    {
      id: 'post-message',
      label: 'POST /chat/Message.json (group of 4)',
      spec: {
        url,
        path: '/chat/Message.json',
        method: 'POST',
        headers: { ...auth('poster'), 'Content-Type': 'application/json' },
        body: JSON.stringify({ chat_dialog_id: data.postDialog, message: 'Hello from the benchmark' }),
        expectedStatus: [201],
      },
    },
    {
      id: 'dialogs-few',
      label: `GET /chat/Dialog.json, user in ${fd} dialogs`,
      spec: { url, path: dialogsPath, headers: auth('few'), expectedStatus: [200] },
    },
    {
      id: 'dialogs-many',
      label: `GET /chat/Dialog.json, user in ${md} dialogs`,
      spec: { url, path: dialogsPath, headers: auth('many'), expectedStatus: [200] },
    },
    {
      id: 'page-few',
      label: `GET /chat/Message.json first page, ${fm} msgs`,
      spec: { url, path: pagePath(data.fewMessages), headers: auth('reader'), expectedStatus: [200] },
    },
    {
      id: 'page-many',
      label: `GET /chat/Message.json first page, ${mm} msgs`,
      spec: { url, path: pagePath(data.manyMessages), headers: auth('reader'), expectedStatus: [200] },
    },
    {
      id: 'keyset-few',
      label: `GET /chat/Message.json keyset middle, ${fm} msgs`,
      spec: { url, path: keysetPath(data.fewMessages), headers: auth('reader'), expectedStatus: [200] },
    },
    {
      id: 'keyset-many',
      label: `GET /chat/Message.json keyset middle, ${mm} msgs`,
      spec: { url, path: keysetPath(data.manyMessages), headers: auth('reader'), expectedStatus: [200] },
    },
    {
      id: 'unread-total-few',
      label: `GET /chat/Message/unread.json total, ${fd} dialogs`,
      spec: { url, path: '/chat/Message/unread.json', headers: auth('few'), expectedStatus: [200] },
    },
    {
      id: 'unread-total-many',
      label: `GET /chat/Message/unread.json total, ${md} dialogs`,
      spec: { url, path: '/chat/Message/unread.json', headers: auth('many'), expectedStatus: [200] },
    },
    {
      id: 'unread-ids-few',
      label: `GET /chat/Message/unread.json 10 ids, ${fd} dialogs`,
      spec: { url, path: idsPath(data.fewDialogIds), headers: auth('few'), expectedStatus: [200] },
    },
    {
      id: 'unread-ids-many',
      label: `GET /chat/Message/unread.json 10 ids, ${md} dialogs`,
      spec: { url, path: idsPath(data.manyDialogIds), headers: auth('many'), expectedStatus: [200] },
    },
  ];

  const results = await runScenarios(pin, knobs, scenarios, server.pid);
  const loadAverageAtEnd = Math.round(loadavg()[0] * 100) / 100;

  printTable(
    ['scenario', 'req/s', 'x baseline', 'p99 ms', 'unexpected', 'RSS MB', 'CPU us/req', 'loadgen CPU'],
    results.map((r) => [
      r.label,
      fmt(r.requestsPerSecond),
      fmt(r.ratio, 2),
      String(r.p99Ms),
      String(r.unexpected),
      `${fmt(r.rssMb, 1)}${r.id === 'baseline' ? ' (node:http)' : ''}`,
      fmt(r.serverCpuMicrosPerRequest, 1),
      `${fmt(r.loadGeneratorCpuPercent)} %`,
    ]),
  );
  console.log('CPU us/req: server CPU time per answered request over the measured seconds (steadier than req/s).');

  const by = (id) => results.find((r) => r.id === id);
  const costGoal = (label, many, few) => {
    const a = by(many);
    const b = by(few);
    if (!a || !b) return { label, value: null, pass: false };
    const ratio = Math.round((a.serverCpuMicrosPerRequest / b.serverCpuMicrosPerRequest) * 100) / 100;
    return {
      label,
      value: `${fmt(ratio, 2)}x (${fmt(a.serverCpuMicrosPerRequest, 1)} vs ${fmt(b.serverCpuMicrosPerRequest, 1)} us/req)`,
      ratio,
      pass: ratio <= 2 && a.unexpected === 0 && b.unexpected === 0,
    };
  };
  const post = by('post-message');
  const goals = [
    post
      ? {
          label: 'POST /chat/Message.json >= 0.2x baseline',
          value: `${fmt(post.ratio, 2)}x (${fmt(post.serverCpuMicrosPerRequest, 1)} us/req)`,
          ratio: post.ratio,
          pass: post.ratio >= 0.2 && post.unexpected === 0,
        }
      : { label: 'POST /chat/Message.json >= 0.2x baseline', value: null, pass: false },
    costGoal(`GET /chat/Dialog.json, ${md} dialogs costs <= 2x ${fd}`, 'dialogs-many', 'dialogs-few'),
    costGoal(`messages first page, ${mm} msgs costs <= 2x ${fm}`, 'page-many', 'page-few'),
    costGoal(`messages keyset page, ${mm} msgs costs <= 2x ${fm}`, 'keyset-many', 'keyset-few'),
    costGoal(`unread total, ${md} dialogs costs <= 2x ${fd}`, 'unread-total-many', 'unread-total-few'),
    costGoal(`unread 10 ids, ${md} dialogs costs <= 2x ${fd}`, 'unread-ids-many', 'unread-ids-few'),
  ];
  console.log('\nGoals (reported, not enforced; cost = server CPU per request):');
  for (const goal of goals) console.log(`  ${goal.pass ? 'PASS' : 'FAIL'}  ${goal.label}  (measured ${goal.value ?? '-'})`);
  console.log(`\nload average ${info.loadAverageAtStart} at the start, ${loadAverageAtEnd} at the end`);

  const output = {
    date: new Date().toISOString(),
    revision: measured,
    machine: { ...info, loadAverageAtEnd },
    method: {
      pinning: pin.note,
      pinned: pin.enabled,
      transport: 'plain HTTP for both servers (Switchboard TLS=off)',
      database: 'SQLite (embedded default), fresh data directory, chat rows written with better-sqlite3 before the server starts',
      ...knobs,
      partners: PARTNERS,
    },
    setup: {
      cliSeconds: round1(cliSeconds),
      fillSeconds: round1(fillSeconds),
      fillTimings: Object.fromEntries(Object.entries(data.timings).map(([k, v]) => [k, Math.round(v * 100) / 100])),
      rows: data.counts,
      messagesPerSecond: Math.round(data.counts.messages / fillSeconds),
      totalSeconds: round1(setupSeconds),
    },
    scenarios: results,
    goals,
  };
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(output, null, 2)}\n`);
  console.log(`Wrote ${outFile.startsWith(ROOT) ? outFile.slice(ROOT.length + 1) : outFile}`);
}

try {
  await main();
} catch (error) {
  if (!state.interrupted) console.error(`\nbenchmark failed: ${error instanceof Error ? error.stack : error}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
