// `node bench/content.js` (after `npm run build`): the Content API with the local store.
//
//   upload and download of a BENCH_BLOB_MB (100) MB file through the API
//   (POST /blobs.json, the multipart form POST, complete, GET /blobs/{uid}),
//   each as a ratio to copying the same file with the filesystem in the same
//   run                                              goal >= 0.5x
//   server RSS while uploading a BENCH_BIG_MB (1024) MB file
//                                                   goal: grows < 64 MB
// The server runs as a child pinned to core 0 (see bench/lib.js), plain HTTP. Server CPU
// per MB is reported beside the wall-clock figures: on a shared machine it is the steadier one.
import { once } from 'node:events';
import { createReadStream, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { copyFile, rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  cleanup,
  clockTicks,
  HOST,
  lastJson,
  launch,
  machine,
  pinning,
  positive,
  ROOT,
  revision,
  round1,
  rssMb,
  serveCommand,
  switchboardSetup,
  waitFor,
} from './lib.js';
import { sessionForms } from './sign.js';

const knobs = { blobMb: positive('BENCH_BLOB_MB', 100), bigMb: positive('BENCH_BIG_MB', 1024) };
const outFile = resolve(ROOT, process.env.BENCH_OUT ?? 'bench/results/content-latest.json');
const PASSWORD = 'bench-password-1';

async function writeRandomFile(file, mb) {
  const out = createWriteStream(file);
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < mb; i++) {
    chunk.fill(i % 251);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** CPU time (user, system) a process has used, in ms, from /proc; null where there is no /proc. */
function cpuMs(pid, ticks) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return { user: (Number(fields[11]) * 1000) / ticks, system: (Number(fields[12]) * 1000) / ticks };
  } catch {
    return null;
  }
}
const cpuSince = (before, pid, ticks) => {
  const now = cpuMs(pid, ticks);
  return before && now ? { user: now.user - before.user, system: now.system - before.system } : null;
};

async function json(response, expected) {
  const body = await response.json();
  if (response.status !== expected) throw new Error(`${response.url} answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

/** Streams a multipart form (fields, then the file from disk) to the upload URL, as the SDK's form does. */
async function postForm(params, file) {
  const url = new URL(params);
  const boundary = `----bench${Date.now()}`;
  let head = '';
  for (const [name, value] of url.searchParams) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  }
  head += `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="blob.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  const size = (await stat(file)).size;
  const req = request({
    host: url.hostname,
    port: url.port,
    path: url.pathname,
    method: 'POST',
    headers: {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(Buffer.byteLength(head) + size + Buffer.byteLength(tail)),
    },
  });
  const answered = new Promise((done, fail) => {
    req.once('response', (res) => {
      res.resume();
      res.once('end', () => done(res.statusCode));
    });
    req.once('error', fail);
  });
  req.write(head);
  await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), req, { end: false });
  req.end(tail);
  const status = await answered;
  if (status !== 201) throw new Error(`upload answered ${status}`);
}

async function main() {
  const pin = pinning();
  const info = machine();
  console.log(`Switchboard content benchmark: ${info.nproc} cores, ${info.cpu}, node ${info.node}`);
  console.log(pin.note);
  console.log(`load average ${info.loadAverageAtStart} at the start`);
  const ticks = clockTicks();
  const { dataDir, port, env, cli } = await switchboardSetup('content');
  const app = lastJson(cli('app', 'create', '--name', 'content', '--json'));
  cli('user', 'create', '--app', String(app.application_id), '--login', 'bench-owner', '--password', PASSWORD, '--json');
  cli('app', 'settings', '--app', String(app.application_id), `blob_max_size=${(knobs.bigMb + 1) * 1024 * 1024}`);

  const server = launch(pin, 0, serveCommand(), env, 'switchboard');
  const url = `http://${HOST}:${port}`;
  await waitFor(`${url}/health/ready`, server);
  const session = await json(
    await fetch(`${url}/session.json`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: sessionForms(app, { 'user[login]': 'bench-owner', 'user[password]': PASSWORD })(),
    }),
    201,
  );
  const headers = { 'QB-Token': session.session.token, 'Content-Type': 'application/x-www-form-urlencoded' };
  const createBlob = async (name) =>
    (await json(await fetch(`${url}/blobs.json`, { method: 'POST', headers, body: `blob[name]=${name}` }), 201)).blob;
  const complete = async (id) => {
    const response = await fetch(`${url}/blobs/${id}/complete.json`, { method: 'PUT', headers, body: 'size=0' });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`complete answered ${response.status}`);
  };

  const source = join(dataDir, 'source.bin');
  await writeRandomFile(source, knobs.blobMb);
  const seconds = (started) => Number(process.hrtime.bigint() - started) / 1e9;

  // Filesystem copy of the same file, as the yardstick (a fresh target each time; copyFile may use reflinks where available).
  let started = process.hrtime.bigint();
  await pipeline(createReadStream(source), createWriteStream(join(dataDir, 'copy.bin')));
  const copySeconds = seconds(started);
  await rm(join(dataDir, 'copy.bin'));
  started = process.hrtime.bigint();
  await copyFile(source, join(dataDir, 'copy2.bin'));
  const copyFileSeconds = seconds(started);
  await rm(join(dataDir, 'copy2.bin'));

  // Server CPU is measured too: wall time on a shared machine moves with the load, CPU time much less.
  const blob = await createBlob('hundred.bin');
  let cpuBefore = cpuMs(server.pid, ticks);
  started = process.hrtime.bigint();
  await postForm(blob.blob_object_access.params, source);
  await complete(blob.id);
  const uploadSeconds = seconds(started);
  const uploadCpu = cpuSince(cpuBefore, server.pid, ticks);

  cpuBefore = cpuMs(server.pid, ticks);
  const clientBefore = process.cpuUsage();
  started = process.hrtime.bigint();
  const download = await fetch(`${url}/blobs/${blob.uid}?token=${session.session.token}`);
  await pipeline(download.body, createWriteStream(join(dataDir, 'downloaded.bin')));
  const downloadSeconds = seconds(started);
  const downloadCpu = cpuSince(cpuBefore, server.pid, ticks);
  const downloadClient = process.cpuUsage(clientBefore);
  if ((await stat(join(dataDir, 'downloaded.bin'))).size !== knobs.blobMb * 1024 * 1024) throw new Error('download size differs');

  const big = join(dataDir, 'big.bin');
  await writeRandomFile(big, knobs.bigMb);
  const bigBlob = await createBlob('big.bin');
  const rssBefore = rssMb(server.pid);
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    const now = rssMb(server.pid);
    if (now !== null && now > rssPeak) rssPeak = now;
  }, 50);
  started = process.hrtime.bigint();
  await postForm(bigBlob.blob_object_access.params, big);
  await complete(bigBlob.id);
  const bigSeconds = seconds(started);
  clearInterval(sampler);

  const mbps = (s, mb = knobs.blobMb) => round1(mb / s);
  const perMb = (cpu) => (cpu ? Math.round(((cpu.user + cpu.system) / knobs.blobMb) * 100) / 100 : null);
  const results = {
    revision: revision(),
    machine: { ...info, loadAverageAtEnd: Math.round(loadavg()[0] * 100) / 100 },
    pinning: pin.note,
    blob_mb: knobs.blobMb,
    fs_copy_stream_mb_s: mbps(copySeconds),
    fs_copyfile_mb_s: mbps(copyFileSeconds),
    upload_mb_s: mbps(uploadSeconds),
    download_mb_s: mbps(downloadSeconds),
    upload_ratio_to_stream_copy: Math.round((copySeconds / uploadSeconds) * 100) / 100,
    download_ratio_to_stream_copy: Math.round((copySeconds / downloadSeconds) * 100) / 100,
    server_cpu_ms_per_mb_upload: perMb(uploadCpu),
    server_cpu_ms_per_mb_download: perMb(downloadCpu),
    server_cpu_ms_upload: uploadCpu,
    server_cpu_ms_download: downloadCpu,
    client_cpu_ms_download: Math.round((downloadClient.user + downloadClient.system) / 1000),
    big_upload_mb: knobs.bigMb,
    big_upload_mb_s: mbps(bigSeconds, knobs.bigMb),
    rss_before_mb: rssBefore,
    rss_peak_mb: rssPeak,
    rss_growth_mb: round1(rssPeak - rssBefore),
  };
  console.log(JSON.stringify(results, null, 2));
  writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(cleanup);
