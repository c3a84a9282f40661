import { once } from 'node:events';
import { createReadStream, createWriteStream, readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';
import { Command, InvalidArgumentError } from 'commander';
import { type Config, ConfigError, loadConfig } from './config.js';
import { loadTls } from './core/certificate.js';
import { ApiError, errors } from './core/errors.js';
import type { Credentials } from './modules/apps/service.js';
import { type AppSettings, parseSettingValue } from './modules/apps/settings.js';
import { buildServer, createServices, type Services } from './server.js';

const program = new Command()
  .name('switchboard')
  .description(
    'A self-hosted backend that speaks the QuickBlox server API.\nConfiguration comes from the environment (see README).',
  );

program
  .command('serve', { isDefault: true })
  .description('run the server')
  .action(() => serve());

program
  .command('migrate')
  .description('apply pending database migrations')
  .action(() =>
    withServices(async (services) => {
      // createServices has already migrated; say where.
      console.log(`database is up to date (${services.storage.dialect})`);
    }),
  );

const app = program.command('app').description('applications');
app
  .command('create')
  .description('create an application')
  .requiredOption('--name <name>', 'application name')
  .option('--id <n>', 'application id', positiveInteger)
  .option('--auth-key <key>', 'auth key (default: random)')
  .option('--auth-secret <secret>', 'auth secret (default: random)')
  .option('--json', 'print the credentials as JSON')
  .action((options: { name: string; id?: number; authKey?: string; authSecret?: string; json?: boolean }) =>
    withServices(async (services) => {
      const { credentials, owner } = await services.apps.createApplication(options);
      // With --json, stdout is only the credentials; the one-time owner password goes to stderr.
      if (owner) printOwner(owner.account.owner_email, owner.password, options.json ? console.error : console.log);
      if (options.json) console.log(JSON.stringify(credentials));
      else printCredentials(options.name, credentials);
    }),
  );
app
  .command('list')
  .description('list applications')
  .option('--json', 'print as JSON')
  .action((options: { json?: boolean }) =>
    withServices(async (services) => {
      const apps = await services.apps.listApplications();
      if (options.json) return console.log(JSON.stringify(apps));
      if (apps.length === 0) return console.log('no applications yet: switchboard app create --name NAME');
      for (const a of apps) console.log(`${a.application_id}\t${a.name}\tauth_key=${a.auth_key}\tauth_secret=${a.auth_secret}`);
    }),
  );
app
  .command('settings')
  .description("show an application's settings, or change some: KEY=VALUE (an empty VALUE clears it)")
  .requiredOption('--app <n>', 'application id', positiveInteger)
  .argument('[changes...]', 'e.g. firebase_project_ids=my-project twitter_consumer_key=K twitter_consumer_secret=S')
  .action((changes: string[], options: { app: number }) =>
    withServices(async (services) => {
      const parsed: Partial<AppSettings> = {};
      for (const change of changes) {
        const at = change.indexOf('=');
        if (at < 1) throw errors.validation(change, 'is not KEY=VALUE');
        const name = change.slice(0, at);
        Object.assign(parsed, { [name]: parseSettingValue(name, change.slice(at + 1)) });
      }
      const settings =
        changes.length > 0
          ? await services.apps.updateSettings(options.app, parsed)
          : (await services.apps.requireApplication(options.app)).settings;
      console.log(JSON.stringify(settings, null, 2));
    }),
  );

program
  .command('apikey')
  .description('server API keys')
  .command('create')
  .description('create a server API key (Authorization: ApiKey <key>)')
  .requiredOption('--app <n>', 'application id', positiveInteger)
  .option('--name <name>', 'a label for the key', 'default')
  .option('--json', 'print as JSON')
  .action((options: { app: number; name: string; json?: boolean }) =>
    withServices(async (services) => {
      const key = await services.apps.createApiKey(options.app, options.name);
      if (options.json) console.log(JSON.stringify({ application_id: options.app, api_key: key }));
      else console.log(`${key}\n(shown once: it is stored only as a hash)`);
    }),
  );

program
  .command('blob')
  .description('content (blobs)')
  .command('gc')
  .description('delete expired uploads, blobs never completed and orphaned bytes; report what was reclaimed')
  .option('--json', 'print the report as JSON')
  .action((options: { json?: boolean }) =>
    withServices(async (services) => {
      const report = await services.content.collectGarbage();
      if (options.json) return console.log(JSON.stringify(report));
      console.log(
        `expired blobs deleted: ${report.expired_blobs}\nobjects deleted: ${report.deleted_objects}\nbytes reclaimed: ${report.reclaimed_bytes}`,
      );
    }),
  );

const dataClass = program.command('class').description('custom-object classes (records live in a table per class)');
const fieldHelp = 'name:Type[:indexed]; Type is Integer, Float, Boolean, String, Array, File, Location or Date';
const collect = (value: string, previous: string[] = []) => [...previous, value];
dataClass
  .command('create')
  .description('create a class')
  .requiredOption('--app <n>', 'application id', positiveInteger)
  .requiredOption('--name <name>', 'class name')
  .option('--field <spec>', `a field, repeatable: ${fieldHelp}`, collect, [])
  .option('--permissions <json>', 'class permissions, e.g. {"read":{"access":"owner","use_class":true}}')
  .option('--json', 'print as JSON')
  .action((options: { app: number; name: string; field: string[]; permissions?: string; json?: boolean }) =>
    withServices(async (services) => {
      await services.apps.requireApplication(options.app);
      const created = await services.classes.create(options.app, {
        name: options.name,
        fields: options.field,
        permissions: jsonOption('--permissions', options.permissions),
      });
      printClass(created, options.json);
    }),
  );
dataClass
  .command('list')
  .description('list the classes of an application')
  .requiredOption('--app <n>', 'application id', positiveInteger)
  .option('--json', 'print as JSON')
  .action((options: { app: number; json?: boolean }) =>
    withServices(async (services) => {
      const list = await services.classes.list(options.app);
      if (options.json) return console.log(JSON.stringify(list));
      for (const c of list)
        console.log(`${c.name}\t${c.fields.map((f) => `${f.name}:${f.type}${f.indexed ? ':indexed' : ''}`).join(' ')}`);
    }),
  );
dataClass
  .command('show')
  .description('show a class: fields and permissions')
  .requiredOption('--app <n>', 'application id', positiveInteger)
  .requiredOption('--name <name>', 'class name')
  .action((options: { app: number; name: string }) =>
    withServices(async (services) => printClass(await services.classes.show(options.app, options.name), true)),
  );
dataClass
  .command('update')
  .description('add or remove fields (records keep their other values), change indexes or permissions')
  .requiredOption('--app <n>', 'application id', positiveInteger)
  .requiredOption('--name <name>', 'class name')
  .option('--field <spec>', `add a field, repeatable: ${fieldHelp}`, collect, [])
  .option('--remove-field <name>', 'remove a field and its values, repeatable', collect, [])
  .option('--index <name>', 'index a field, repeatable', collect, [])
  .option('--unindex <name>', 'drop the index of a field, repeatable', collect, [])
  .option('--permissions <json>', 'class permissions to change, e.g. {"update":{"access":"open"}}')
  .option('--json', 'print as JSON')
  .action(
    (options: {
      app: number;
      name: string;
      field: string[];
      removeField: string[];
      index: string[];
      unindex: string[];
      permissions?: string;
      json?: boolean;
    }) =>
      withServices(async (services) => {
        const updated = await services.records.updateClass(options.app, options.name, {
          add_fields: options.field,
          remove_fields: options.removeField,
          index: options.index,
          unindex: options.unindex,
          permissions: jsonOption('--permissions', options.permissions),
        });
        printClass(updated, options.json);
      }),
  );
dataClass
  .command('delete')
  .description('delete a class with all its records and their files')
  .requiredOption('--app <n>', 'application id', positiveInteger)
  .requiredOption('--name <name>', 'class name')
  .action((options: { app: number; name: string }) =>
    withServices(async (services) => {
      await services.records.deleteClass(options.app, options.name);
      console.log(`class ${options.name} deleted`);
    }),
  );

function jsonOption(name: string, value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    throw errors.validation(name, 'is not JSON');
  }
}

function printClass(c: { name: string; fields: Array<{ name: string; type: string; indexed: boolean }> }, json?: boolean): void {
  if (json) {
    // One line, as every --json of the CLI prints.
    console.log(JSON.stringify(c));
    return;
  }
  console.log(`class ${c.name}`);
  for (const f of c.fields) console.log(`  ${f.name}\t${f.type}${f.indexed ? '\tindexed' : ''}`);
}

const user = program.command('user').description('users');
user
  .command('create')
  .description('create a user')
  .requiredOption('--app <n>', 'application id', positiveInteger)
  .option('--login <login>')
  .option('--email <email>')
  .requiredOption('--password <password>')
  .option('--full-name <name>')
  .option('--json', 'print as JSON')
  .action((options: { app: number; login?: string; email?: string; password: string; fullName?: string; json?: boolean }) =>
    withServices(async (services) => {
      await services.apps.requireApplication(options.app);
      const { login, email, password, fullName } = options;
      const user = await services.users.create(options.app, { login, email, password, full_name: fullName });
      console.log(options.json ? JSON.stringify({ user }) : `user ${user.id} created`);
    }),
  );

user
  .command('import')
  .description('import users from a JSON-lines file (ids kept; safe to run again)')
  .requiredOption('--app <n>', 'application id', positiveInteger)
  .option('--require-password-reset', 'lines without a password import without one; those users must reset it')
  .argument('<file>', 'JSON lines, one user per line (the format `user export` writes)')
  .action((file: string, options: { app: number; requirePasswordReset?: boolean }) =>
    withServices(async (services) => {
      await services.apps.requireApplication(options.app);
      const progress = new Progress(statSync(file).size);
      const input = createReadStream(file);
      input.on('data', (chunk) => progress.read(chunk.length));
      const report = await services.userTransfer.import(options.app, createInterface({ input, crlfDelay: Infinity }), {
        requirePasswordReset: options.requirePasswordReset ?? false,
        onProgress: (lines) => progress.show(lines),
      });
      progress.done();
      for (const error of report.errors) console.error(`line ${error.line}: ${error.message}`);
      console.log(`imported ${report.imported} users from ${report.lines} lines, ${report.errors.length} errors`);
      if (report.errors.length > 0) process.exitCode = 1;
    }),
  );
user
  .command('export')
  .description('write the users of an application as JSON lines (includes password hashes: keep it secret)')
  .requiredOption('--app <n>', 'application id', positiveInteger)
  .argument('[file]', 'output file (default: standard output)')
  .action((file: string | undefined, options: { app: number }) =>
    withServices(async (services) => {
      await services.apps.requireApplication(options.app);
      const output = file ? createWriteStream(file, { mode: 0o600 }) : process.stdout;
      for await (const line of services.userTransfer.export(options.app)) {
        if (!output.write(`${line}\n`)) await once(output, 'drain');
      }
      if (file) await new Promise((resolve) => (output as ReturnType<typeof createWriteStream>).end(resolve));
    }),
  );

/** A one-line progress report on stderr: bytes read of the file, lines done, rate. */
class Progress {
  private bytes = 0;
  private printed = 0;
  private readonly started = Date.now();
  constructor(private readonly total: number) {}
  read(bytes: number): void {
    this.bytes += bytes;
  }
  show(lines: number): void {
    const percent = this.total > 0 ? Math.min(100, Math.floor((this.bytes / this.total) * 100)) : 100;
    const width = 30;
    const bar = '#'.repeat(Math.floor((percent / 100) * width)).padEnd(width, '.');
    const rate = Math.round(lines / Math.max(0.001, (Date.now() - this.started) / 1000));
    const text = `[${bar}] ${percent}% ${lines} lines, ${rate} lines/s`;
    if (process.stderr.isTTY) process.stderr.write(`\r${text}`);
    else if (lines - this.printed >= 10_000) {
      this.printed = lines;
      process.stderr.write(`${text}\n`);
    }
  }
  done(): void {
    if (process.stderr.isTTY) process.stderr.write('\n');
  }
}

const push = program.command('push').description('push notifications');
push
  .command('credentials')
  .description("set an application's APNs and FCM credentials (stored encrypted under PUSH_CREDENTIALS_KEY)")
  .requiredOption('--app <n>', 'application id', positiveInteger)
  .option('--apns-key <file>', 'APNs .p8 signing key (token auth)')
  .option('--apns-key-id <id>', 'its 10-character key id')
  .option('--apns-team-id <id>', 'the 10-character Apple team id')
  .option('--apns-cert <file>', 'APNs client certificate PEM (certificate auth, instead of a .p8 key)')
  .option('--apns-cert-key <file>', 'the certificate private key PEM')
  .option('--apns-topic <bundle>', 'bundle id used when a subscription names none')
  .option('--fcm-service-account <file>', 'Google service-account JSON for FCM HTTP v1')
  .option('--remove <service>', 'forget the credentials of apns or fcm')
  .action(
    (options: {
      app: number;
      apnsKey?: string;
      apnsKeyId?: string;
      apnsTeamId?: string;
      apnsCert?: string;
      apnsCertKey?: string;
      apnsTopic?: string;
      fcmServiceAccount?: string;
      remove?: string;
    }) =>
      withServices(async (services) => {
        await services.apps.requireApplication(options.app);
        const credentials = services.push.credentials;
        const topic = options.apnsTopic ? { topic: options.apnsTopic } : {};
        const read = (file: string) => readFileSync(file, 'utf8');
        if (options.remove) {
          if (options.remove !== 'apns' && options.remove !== 'fcm') throw errors.validation('remove', 'must be apns or fcm');
          console.log(
            (await credentials.remove(options.app, options.remove)) ? `${options.remove} credentials removed` : 'none were set',
          );
          return;
        }
        if (options.apnsKey) {
          if (!options.apnsKeyId || !options.apnsTeamId)
            throw errors.validation('apns-key', 'needs --apns-key-id and --apns-team-id');
          await credentials.setApns(options.app, {
            kind: 'token',
            keyId: options.apnsKeyId,
            teamId: options.apnsTeamId,
            privateKey: read(options.apnsKey),
            ...topic,
          });
          console.log('APNs token-auth credentials saved');
        } else if (options.apnsCert) {
          if (!options.apnsCertKey) throw errors.validation('apns-cert', 'needs --apns-cert-key');
          await credentials.setApns(options.app, {
            kind: 'certificate',
            cert: read(options.apnsCert),
            key: read(options.apnsCertKey),
            ...topic,
          });
          console.log('APNs certificate credentials saved');
        }
        if (options.fcmServiceAccount) {
          await credentials.setFcm(options.app, read(options.fcmServiceAccount));
          console.log('FCM service account saved');
        }
        if (!options.apnsKey && !options.apnsCert && !options.fcmServiceAccount) {
          throw errors.validation('credentials', 'give --apns-key, --apns-cert, --fcm-service-account or --remove');
        }
      }),
  );

function positiveInteger(value: string): number {
  if (!/^\d{1,15}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
}

function config(): Config {
  try {
    return loadConfig();
  } catch (error) {
    fail(error);
  }
}

async function withServices(task: (services: Services) => Promise<unknown>): Promise<void> {
  const services = await createServices(config()).catch(fail);
  try {
    await task(services);
  } catch (error) {
    fail(error);
  } finally {
    await services.blobStore.close();
    await services.storage.close();
  }
}

function fail(error: unknown): never {
  if (error instanceof ConfigError) console.error(error.message);
  else if (error instanceof ApiError) console.error(`error: ${JSON.stringify(error.body.errors)}`);
  else console.error(error);
  process.exit(error instanceof ConfigError ? 2 : 1);
}

/**
 * After a full collection V8 may let the heap grow to four times what is
 * live; twice is enough and halves the memory a large push send takes. Set
 * here, once the server has started, not on the command line: there the same
 * flag changed how V8 laid out what start-up allocates, and about half of the
 * processes then ran every request ~20 % slower (BENCHMARKS.md, "Start-up
 * heap"). The flag is read at each collection, so setting it late works.
 */
function boundHeapGrowth(): void {
  setFlagsFromString('--heap-growing-percent=100');
}

async function serve(): Promise<void> {
  const cfg = config();
  const tls = await loadTls(cfg).catch(fail);
  const server = await buildServer(cfg, { tls }).catch(fail);

  const { created } = await server.services.apps.ensureOwner();
  let demo: Credentials | null = null;
  if (created) demo = (await server.services.apps.createApplication({ name: 'Demo' })).credentials;

  await server.listen({ port: cfg.port, host: cfg.host }).catch(fail);
  boundHeapGrowth();
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : cfg.port;
  const scheme = tls ? 'https' : 'http';
  console.log(`\nSwitchboard is listening on ${scheme}://${cfg.host}:${port} (${server.services.storage.dialect})`);
  if (tls?.generated) console.log(`Generated a self-signed certificate: ${tls.certPath}`);
  if (tls) console.log(`Trust it in Node clients with NODE_EXTRA_CA_CERTS=${tls.certPath}`);
  if (created) printOwner(created.account.owner_email, created.password);
  if (demo) {
    printCredentials('Demo', demo);
    printSnippet(demo, cfg, port);
  } else {
    console.log('Applications: bin/switchboard app list');
  }

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    server.log.info({ signal }, 'shutting down: finishing requests in flight');
    server.close().then(
      () => process.exit(0),
      (error) => {
        server.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

function printOwner(email: string, password: string, print: (line: string) => void = console.log): void {
  print(`\nCreated the owner account ${email}. Its password, shown only this once: ${password}`);
}

function printCredentials(name: string, c: Credentials): void {
  console.log(`\nApplication "${name}"`);
  console.log(`  application_id: ${c.application_id}`);
  console.log(`  auth_key:       ${c.auth_key}`);
  console.log(`  auth_secret:    ${c.auth_secret}`);
  console.log(`  account_key:    ${c.account_key}`);
}

function printSnippet(c: Credentials, cfg: Config, port: number): void {
  const api = new URL(cfg.endpoints.api);
  const apiHost = `${api.hostname}:${api.port || port}`;
  console.log('\nPaste into your app (no account key, so the SDK never calls quickblox.com):');
  console.log(
    `  QB.init(${c.application_id}, '${c.auth_key}', '${c.auth_secret}', { endpoints: { api: '${apiHost}', chat: '${cfg.endpoints.chat}' } });\n`,
  );
}

await program.parseAsync();
