import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: bin/switchboard and dist/ live here. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

// Settings a developer's shell may export; children get only what a test gives them.
const SETTINGS =
  /^(SWITCHBOARD_.*|PORT|HOST|DATABASE_URL|TLS|TLS_CERT|TLS_KEY|LOG_LEVEL|PUBLIC_HOST|API_ENDPOINT|CHAT_ENDPOINT|TURN_ENDPOINT|BODY_LIMIT|SESSION_TTL|NODE_EXTRA_CA_CERTS|FACEBOOK_GRAPH_URL|TWITTER_API_URL|FIREBASE_JWKS_URL|PROVIDER_TIMEOUT_MS|BLOB_STORE|BLOB_UPLOAD_TTL|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY)$/;

/** This process's environment without any Switchboard setting, plus the given ones. */
export function childEnv(settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!SETTINGS.test(key)) env[key] = value;
  return { ...env, ...settings };
}

/** A fresh empty folder; remove it with removeDir. */
export function tempDir(prefix = 'switchboard-proc-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/switchboard ...args` to completion; a non-zero exit is a result, not an error. */
export function runCli(args: string[], settings: Record<string, string>): Promise<CliResult> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      ['bin/switchboard', ...args],
      { cwd: ROOT, env: childEnv(settings), timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return fail(error);
        done({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
  });
}

/** The only stdout line of a `--json` command, parsed. */
export function jsonLine(result: CliResult): any {
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr}`);
  const lines = result.stdout.split('\n').filter((line) => line.trim() !== '');
  if (lines.length !== 1) throw new Error(`expected exactly one line on stdout, got:\n${result.stdout}`);
  return JSON.parse(lines[0] as string);
}

/** A port nobody listens on right now (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Whether a TCP connection to 127.0.0.1:port is accepted. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process whose output is collected line by line. */
export class Spawned {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  private readonly waiters = new Set<() => void>();
  private closed = false;

  constructor(args: string[], settings: Record<string, string>) {
    this.child = spawn(process.execPath, args, { cwd: ROOT, env: childEnv(settings), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.notify();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.notify();
    });
    this.exited = new Promise((done) => {
      // 'close' comes after the output streams ended, so nothing printed is missed.
      this.child.once('close', (code, signal) => {
        this.closed = true;
        this.notify();
        done({ code, signal });
      });
    });
  }

  /** False once the process exited and its output was read to the end. */
  get running(): boolean {
    return !this.closed;
  }

  /** Resolves with the first complete stdout line matching pattern; rejects if the process exits first. */
  waitForLine(pattern: RegExp): Promise<string> {
    return new Promise((done, fail) => {
      const check = () => {
        const line = this.stdout
          .split('\n')
          .slice(0, -1)
          .find((candidate) => pattern.test(candidate));
        if (line !== undefined) {
          this.waiters.delete(check);
          done(line);
        } else if (!this.running) {
          this.waiters.delete(check);
          fail(new Error(`process exited before printing ${pattern}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`));
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Sends SIGKILL if it still runs, and waits for the exit. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Starts `node dist/cli.js serve` with the given settings. */
export function spawnServer(settings: Record<string, string>): Spawned {
  return new Spawned(['dist/cli.js', 'serve'], settings);
}
