import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** The one typed configuration. This is the only file that reads process.env. */
export interface Config {
  port: number;
  host: string;
  /** Folder for the SQLite file, blobs and the generated certificate. */
  dataDir: string;
  database: { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };
  tls: { mode: 'self-signed' } | { mode: 'files'; certFile: string; keyFile: string } | { mode: 'off' };
  /** Outbound mail: over SMTP when SMTP_URL is set, otherwise written to the log. */
  mail: { smtpUrl: string | null; from: string };
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** What /account_settings.json and the start-up banner tell clients. */
  endpoints: { api: string; chat: string; turnserver: string };
  /** Largest request body accepted on ordinary routes, in bytes. */
  bodyLimit: number;
  /** Idle lifetime of a session token, in seconds (QuickBlox: 2 hours). */
  sessionTtlSeconds: number;
  /** Where blob bytes live: a local folder behind Switchboard's upload endpoint, or an S3-compatible bucket. */
  blobStore: BlobStoreConfig;
  /** How long a blob's upload form stays valid; a blob never completed by then is collected, in seconds. */
  blobUploadTtlSeconds: number;
  /** Where social and phone sign-in tokens are verified (base URLs without a trailing slash). */
  providers: {
    facebookGraphUrl: string;
    twitterApiUrl: string;
    firebaseJwksUrl: string;
    /** Longest wait for one outbound verification request, in milliseconds. */
    timeoutMs: number;
  };
  /** Push delivery: gateway base URLs and the key that encrypts per-application push credentials. */
  push: {
    /** 32 bytes from PUSH_CREDENTIALS_KEY (64 hex characters or base64), or null: credentials cannot be stored. */
    credentialsKey: Buffer | null;
    apnsProductionUrl: string;
    apnsDevelopmentUrl: string;
    fcmUrl: string;
    /** Overrides every service account's token_uri, or null. */
    fcmTokenUrl: string | null;
  };
}

export type BlobStoreConfig =
  | { kind: 'local'; dir: string }
  | {
      kind: 's3';
      bucket: string;
      /** A custom endpoint (MinIO, Garage, s3rver...), or null for AWS itself. */
      endpoint: string | null;
      region: string;
      forcePathStyle: boolean;
      /** From AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; null leaves it to the SDK's default chain. */
      credentials: { accessKeyId: string; secretAccessKey: string } | null;
    };

export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`Invalid configuration: ${setting} ${message}`);
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

type Source = Record<string, string | undefined>;

/**
 * Builds the config from environment variables, over an optional JSON file
 * (SWITCHBOARD_CONFIG) whose keys are the same variable names.
 */
export function loadConfig(env: Source = process.env, cwd = process.cwd()): Config {
  const source: Source = { ...readConfigFile(env.SWITCHBOARD_CONFIG, cwd), ...definedOnly(env) };
  const get = (name: string): string | undefined => {
    const value = source[name]?.trim();
    return value === '' ? undefined : value;
  };

  const dataDir = resolve(cwd, get('SWITCHBOARD_DATA') ?? './data');
  const port = parseInteger('PORT', get('PORT') ?? '8443', 0, 65535);
  const host = get('HOST') ?? '0.0.0.0';

  const tls = parseTls(get('TLS'), get('TLS_CERT'), get('TLS_KEY'), cwd);
  const scheme = tls.mode === 'off' ? 'http' : 'https';
  const publicHost = get('PUBLIC_HOST') ?? (host === '0.0.0.0' || host === '::' ? 'localhost' : host);

  const logLevel = get('LOG_LEVEL') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);
  }

  return {
    port,
    host,
    dataDir,
    database: parseDatabase(get('DATABASE_URL'), dataDir, cwd),
    tls,
    mail: {
      smtpUrl: parseSmtpUrl(get('SMTP_URL')),
      from: parseMailFrom(get('MAIL_FROM') ?? `Switchboard <no-reply@${publicHost}>`),
    },
    logLevel: logLevel as Config['logLevel'],
    endpoints: {
      api: get('API_ENDPOINT') ?? `${scheme}://${publicHost}:${port}`,
      chat: get('CHAT_ENDPOINT') ?? publicHost,
      turnserver: get('TURN_ENDPOINT') ?? publicHost,
    },
    bodyLimit: parseInteger('BODY_LIMIT', get('BODY_LIMIT') ?? String(1024 * 1024), 1024, 1024 * 1024 * 1024),
    sessionTtlSeconds: parseInteger('SESSION_TTL', get('SESSION_TTL') ?? '7200', 60, 30 * 24 * 3600),
    blobStore: parseBlobStore(get('BLOB_STORE'), dataDir, cwd, get('AWS_ACCESS_KEY_ID'), get('AWS_SECRET_ACCESS_KEY')),
    blobUploadTtlSeconds: parseInteger('BLOB_UPLOAD_TTL', get('BLOB_UPLOAD_TTL') ?? '3600', 60, 7 * 24 * 3600),
    providers: {
      facebookGraphUrl: parseHttpUrl('FACEBOOK_GRAPH_URL', get('FACEBOOK_GRAPH_URL') ?? 'https://graph.facebook.com'),
      twitterApiUrl: parseHttpUrl('TWITTER_API_URL', get('TWITTER_API_URL') ?? 'https://api.twitter.com'),
      firebaseJwksUrl: parseHttpUrl(
        'FIREBASE_JWKS_URL',
        get('FIREBASE_JWKS_URL') ?? 'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com',
        'exact',
      ),
      timeoutMs: parseInteger('PROVIDER_TIMEOUT_MS', get('PROVIDER_TIMEOUT_MS') ?? '10000', 100, 120_000),
    },
    push: {
      credentialsKey: parseKey('PUSH_CREDENTIALS_KEY', get('PUSH_CREDENTIALS_KEY')),
      apnsProductionUrl: parseHttpUrl('APNS_PRODUCTION_URL', get('APNS_PRODUCTION_URL') ?? 'https://api.push.apple.com'),
      apnsDevelopmentUrl: parseHttpUrl(
        'APNS_DEVELOPMENT_URL',
        get('APNS_DEVELOPMENT_URL') ?? 'https://api.sandbox.push.apple.com',
      ),
      fcmUrl: parseHttpUrl('FCM_URL', get('FCM_URL') ?? 'https://fcm.googleapis.com'),
      fcmTokenUrl: get('FCM_TOKEN_URL') ? parseHttpUrl('FCM_TOKEN_URL', get('FCM_TOKEN_URL') as string, 'exact') : null,
    },
  };
}

/** A 256-bit key as 64 hex characters or base64; the value is a secret, so errors never show it. */
function parseKey(setting: string, raw: string | undefined): Buffer | null {
  if (raw === undefined) return null;
  const key = /^[0-9a-f]{64}$/i.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64');
  if (key.length !== 32) throw new ConfigError(setting, 'must be 32 bytes: 64 hex characters or base64 (openssl rand -hex 32)');
  return key;
}

/** Names the certificate gets when Switchboard generates its own. */
export function certificateHosts(): string[] {
  return ['localhost', '127.0.0.1', '::1', hostname()];
}

function readConfigFile(path: string | undefined, cwd: string): Source {
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(resolve(cwd, path), 'utf8');
  } catch (error) {
    throw new ConfigError('SWITCHBOARD_CONFIG', `cannot be read: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError('SWITCHBOARD_CONFIG', `is not valid JSON (${path})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('SWITCHBOARD_CONFIG', 'must hold a JSON object of setting names to values');
  }
  const out: Source = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (value !== null && typeof value === 'object') {
      throw new ConfigError(key, `in ${path} must be a string, number or boolean`);
    }
    out[key] = String(value);
  }
  return out;
}

function definedOnly(env: Source): Source {
  const out: Source = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}

function parseInteger(setting: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw)) throw new ConfigError(setting, `must be a whole number (got "${raw}")`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(setting, `must be between ${min} and ${max} (got ${value})`);
  return value;
}

/** An absolute http(s) URL; a base URL loses its trailing slash so paths can be appended. */
function parseHttpUrl(setting: string, raw: string, kind: 'base' | 'exact' = 'base'): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(setting, `must be an http:// or https:// URL (got "${raw}")`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(setting, `must be an http:// or https:// URL (got "${raw}")`);
  }
  if (url.search || url.hash) throw new ConfigError(setting, `must not have a query or fragment (got "${raw}")`);
  return kind === 'base' ? url.toString().replace(/\/+$/, '') : url.toString();
}

function parseDatabase(raw: string | undefined, dataDir: string, cwd: string): Config['database'] {
  if (!raw) return { kind: 'sqlite', file: join(dataDir, 'switchboard.sqlite') };
  if (/^postgres(ql)?:\/\//.test(raw)) {
    try {
      new URL(raw);
    } catch {
      throw new ConfigError('DATABASE_URL', 'is not a valid postgres:// URL');
    }
    return { kind: 'postgres', url: raw };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) && !raw.startsWith('file://') && !raw.startsWith('sqlite://')) {
    throw new ConfigError('DATABASE_URL', `must be a SQLite file path or a postgres:// URL (got "${raw}")`);
  }
  const path = raw.replace(/^(sqlite|file):\/\//, '');
  return { kind: 'sqlite', file: isAbsolute(path) ? path : resolve(cwd, path) };
}

/** A folder path (default: <SWITCHBOARD_DATA>/blobs), file://path, or s3://bucket?endpoint=&region=&force_path_style=1. */
function parseBlobStore(
  raw: string | undefined,
  dataDir: string,
  cwd: string,
  accessKeyId: string | undefined,
  secretAccessKey: string | undefined,
): BlobStoreConfig {
  if (!raw) return { kind: 'local', dir: join(dataDir, 'blobs') };
  if (!raw.startsWith('s3://')) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) && !raw.startsWith('file://')) {
      throw new ConfigError('BLOB_STORE', `must be a folder path or an s3://bucket URL (got "${raw}")`);
    }
    return { kind: 'local', dir: resolve(cwd, raw.replace(/^file:\/\//, '')) };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('BLOB_STORE', `is not a valid s3:// URL (got "${raw}")`);
  }
  const bucket = url.hostname;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new ConfigError('BLOB_STORE', `must name a valid bucket: s3://bucket?region=... (got "${raw}")`);
  }
  const known = ['endpoint', 'region', 'force_path_style'];
  for (const key of url.searchParams.keys()) {
    if (!known.includes(key)) throw new ConfigError('BLOB_STORE', `has an unknown option "${key}" (known: ${known.join(', ')})`);
  }
  const endpoint = url.searchParams.get('endpoint');
  if (endpoint !== null) parseHttpUrl('BLOB_STORE endpoint', endpoint);
  const pathStyle = (url.searchParams.get('force_path_style') ?? '0').toLowerCase();
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new ConfigError('AWS_SECRET_ACCESS_KEY', 'must be set together with AWS_ACCESS_KEY_ID');
  }
  return {
    kind: 's3',
    bucket,
    endpoint: endpoint ? endpoint.replace(/\/+$/, '') : null,
    region: url.searchParams.get('region') || 'us-east-1',
    forcePathStyle: ['1', 'true', 'yes'].includes(pathStyle),
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : null,
  };
}

function parseTls(raw: string | undefined, cert: string | undefined, key: string | undefined, cwd: string) {
  const mode = (raw ?? 'on').toLowerCase();
  if (['off', 'false', '0', 'no'].includes(mode)) return { mode: 'off' } as const;
  if (!['on', 'true', '1', 'yes'].includes(mode)) throw new ConfigError('TLS', `must be "on" or "off" (got "${raw}")`);
  if (cert || key) {
    if (!cert) throw new ConfigError('TLS_CERT', 'must be set together with TLS_KEY');
    if (!key) throw new ConfigError('TLS_KEY', 'must be set together with TLS_CERT');
    return { mode: 'files', certFile: resolve(cwd, cert), keyFile: resolve(cwd, key) } as const;
  }
  return { mode: 'self-signed' } as const;
}

/** smtp:// (STARTTLS when offered) or smtps:// (TLS from the start), with optional user:password. */
function parseSmtpUrl(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  let url: URL | null = null;
  try {
    url = new URL(raw);
  } catch {}
  if (!url || (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') || url.hostname === '') {
    // The value may hold a password: show only its start.
    throw new ConfigError('SMTP_URL', `must be an smtp:// or smtps:// URL with a host (got "${raw.slice(0, 8)}...")`);
  }
  return raw;
}

/** An address, bare or as `Name <address>`. */
function parseMailFrom(raw: string): string {
  const address = /<([^<>]*)>\s*$/.exec(raw)?.[1] ?? raw;
  if (/[\r\n]/.test(raw) || !/^[^\s@<>]+@[^\s@<>]+$/.test(address.trim())) {
    throw new ConfigError('MAIL_FROM', `must be an address like "Name <no-reply@example.com>" (got "${raw}")`);
  }
  return raw;
}
