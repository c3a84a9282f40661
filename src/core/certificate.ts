import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Config, ConfigError, certificateHosts } from '../config.js';

export interface TlsMaterial {
  key: string;
  cert: string;
  /** Where the certificate lives, so clients can trust it (NODE_EXTRA_CA_CERTS). */
  certPath: string;
  /** True when this call generated it. */
  generated: boolean;
}

/**
 * The server's certificate: the configured files, or a self-signed one for
 * localhost, 127.0.0.1 and this host's name, generated once into the data folder.
 */
export async function loadTls(config: Config): Promise<TlsMaterial | null> {
  const tls = config.tls;
  if (tls.mode === 'off') return null;
  if (tls.mode === 'files') {
    return {
      key: readOrFail('TLS_KEY', tls.keyFile),
      cert: readOrFail('TLS_CERT', tls.certFile),
      certPath: tls.certFile,
      generated: false,
    };
  }
  const dir = join(config.dataDir, 'tls');
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) {
    return { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8'), certPath, generated: false };
  }
  const { key, cert } = await generateCertificate(certificateHosts());
  mkdirSync(dir, { recursive: true });
  writeFileSync(keyPath, key, { mode: 0o600 });
  writeFileSync(certPath, cert);
  return { key, cert, certPath, generated: true };
}

export async function generateCertificate(hosts: string[]): Promise<{ key: string; cert: string }> {
  const isIp = (host: string) => /^[\d.]+$/.test(host) || host.includes(':');
  const altNames = [...new Set(hosts)].map((host) =>
    isIp(host) ? { type: 7 as const, ip: host } : { type: 2 as const, value: host },
  );
  const notAfter = new Date();
  notAfter.setFullYear(notAfter.getFullYear() + 5);
  // A unique name: a client that trusts several of these would otherwise confuse them (same issuer name).
  const commonName = `Switchboard ${randomBytes(6).toString('hex')}`;
  // Loaded only when a certificate is generated (once per data folder).
  const { default: selfsigned } = await import('selfsigned');
  const pems = await selfsigned.generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

function readOrFail(setting: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(setting, `cannot be read: ${(error as Error).message}`);
  }
}
